import ClusterAPI
print(ClusterAPIInfo.apiVersion)
