# The context variables a distributed-API request sets before its function runs (LOCAL-DAPI-CONTROL.md §2.3).
from contextvars import ContextVar

rbac = ContextVar('rbac', default={'rbac_mode': 'black'})
current_user = ContextVar('current_user', default='')
broadcast = ContextVar('broadcast', default=False)
cluster_nodes = ContextVar('cluster_nodes', default=[])
origin_module = ContextVar('origin_module', default='framework')

# Values a request computes once (context_cached); the request's executor empties it after each request.
_context_cache = {}


def context_cached(key):
    def decorator(f):
        def wrapper(*args, **kwargs):
            if key not in _context_cache:
                _context_cache[key] = f(*args, **kwargs)
            return _context_cache[key]
        return wrapper
    return decorator


def reset_context_cache():
    _context_cache.clear()
