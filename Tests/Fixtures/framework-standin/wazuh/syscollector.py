# A stand-in for a framework function clusterd does not serve: an affected-items result that shows what
# it was called with, the request's context and the process that ran it.
import os

from wazuh.core import common
from wazuh.core.exception import WazuhResourceNotFound
from wazuh.core.results import AffectedItemsWazuhResult


def get_item_agent(agent_list=None, element_type='os', offset=0, limit=500, select=None, **kwargs):
    result = AffectedItemsWazuhResult(all_msg='All specified syscollector information was returned',
                                      some_msg='Some syscollector information was not returned',
                                      none_msg='No syscollector information was returned')
    for agent in agent_list or []:
        if agent == '999':
            result.add_failed_item(agent, WazuhResourceNotFound(1701))
            continue
        result.affected_items.append({'agent_id': agent, 'element_type': element_type, 'pid': os.getpid(),
                                      'current_user': common.current_user.get(),
                                      'rbac_mode': common.rbac.get().get('rbac_mode'),
                                      'broadcast': common.broadcast.get(), 'cluster_nodes': common.cluster_nodes.get(),
                                      'origin_module': common.origin_module.get()})
    result.total_affected_items = len(result.affected_items)
    return result
