/// The REST front `cluster-api`: the Wazuh API's endpoints, solved by the node's cluster daemon.
public enum ClusterAPIInfo {
    public static let apiVersion = "4.8.1"
}
