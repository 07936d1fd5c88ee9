# The context variables a distributed-API request sets before its function runs (LOCAL-DAPI-CONTROL.md §2.3).
from contextvars import ContextVar

rbac = ContextVar('rbac', default={'rbac_mode': 'black'})
current_user = ContextVar('current_user', default='')
broadcast = ContextVar('broadcast', default=False)
cluster_nodes = ContextVar('cluster_nodes', default=[])
origin_module = ContextVar('origin_module', default='framework')
