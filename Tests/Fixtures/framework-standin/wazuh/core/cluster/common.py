# The JSON object encoding of LOCAL-DAPI-CONTROL.md §2.2: WazuhJSONEncoder and its decoder as_wazuh_object.
import importlib
import json
from datetime import date, datetime

from wazuh.core import exception, results


class WazuhJSONEncoder(json.JSONEncoder):
    def default(self, obj):
        if callable(obj) and hasattr(obj, '__qualname__'):
            return {'__callable__': {'__name__': obj.__name__, '__module__': obj.__module__,
                                     '__qualname__': obj.__qualname__, '__type__': type(obj).__name__}}
        if isinstance(obj, exception.WazuhException):
            return {'__wazuh_exception__': {'__class__': type(obj).__name__, '__object__': obj.to_dict()}}
        if isinstance(obj, results.AbstractWazuhResult):
            return {'__wazuh_result__': {'__class__': type(obj).__name__, '__object__': obj.encode_json()}}
        if isinstance(obj, (datetime, date)):
            return {'__wazuh_datetime__': obj.isoformat()}
        if isinstance(obj, Exception):
            return {'__unhandled_exc__': {'__class__': type(obj).__name__, '__args__': list(obj.args)}}
        return super().default(obj)


def as_wazuh_object(dct):
    if '__callable__' in dct:
        c = dct['__callable__']
        module = importlib.import_module(c['__module__'])
        target = module
        for part in c['__qualname__'].split('.'):
            target = getattr(target, part, None)
            if target is None:
                return dct
        return target
    if '__wazuh_exception__' in dct:
        e = dct['__wazuh_exception__']
        cls = getattr(exception, e['__class__'])
        o = dict(e['__object__'])
        ids = o.pop('ids', None)
        made = cls(o['code'], o.get('extra_message'), o.get('extra_remediation'), o.get('cmd_error', False),
                   o.get('dapi_errors'))
        if ids is not None:
            made.ids = ids
        return made
    if '__wazuh_result__' in dct:
        r = dct['__wazuh_result__']
        o = r['__object__']
        if r['__class__'] == 'WazuhResult':
            return results.WazuhResult(o['result'], o.get('str_priority'))
        made = results.AffectedItemsWazuhResult(o['all_msg'], o['some_msg'], o['none_msg'], o['sort_fields'],
                                               o['sort_casting'], o['sort_ascending'])
        made.affected_items = o['affected_items']
        made.total_affected_items = o['total_affected_items']
        made.dikt = o['dikt']
        return made
    if '__wazuh_datetime__' in dct:
        return datetime.fromisoformat(dct['__wazuh_datetime__'])
    return dct
