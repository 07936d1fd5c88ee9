# Results with the encode_json() shapes of LOCAL-DAPI-CONTROL.md §2.2.


class AbstractWazuhResult:
    def encode_json(self):
        raise NotImplementedError


class WazuhResult(AbstractWazuhResult):
    def __init__(self, dct, str_priority=None):
        self.dikt = dict(dct)
        self.str_priority = str_priority

    def encode_json(self):
        return {'str_priority': self.str_priority, 'result': self.dikt}


class AffectedItemsWazuhResult(AbstractWazuhResult):
    def __init__(self, all_msg='', some_msg='', none_msg='', sort_fields=None, sort_casting=None,
                 sort_ascending=None):
        self.affected_items = []
        self.total_affected_items = 0
        self.failed = []  # [exception, [ids]] in the order the errors were first seen
        self.dikt = {}
        self.all_msg, self.some_msg, self.none_msg = all_msg, some_msg, none_msg
        self.sort_fields = sort_fields
        self.sort_casting = sort_casting or ['int']
        self.sort_ascending = sort_ascending or [True]

    def add_failed_item(self, id_, error):
        for entry in self.failed:
            if entry[0].to_dict() == error.to_dict():
                entry[1].append(id_)
                return
        self.failed.append([error, [id_]])

    def encode_json(self):
        return {'affected_items': self.affected_items, 'sort_fields': self.sort_fields,
                'sort_casting': self.sort_casting, 'sort_ascending': self.sort_ascending,
                'total_affected_items': self.total_affected_items,
                'total_failed_items': sum(len(ids) for _, ids in self.failed), 'dikt': self.dikt,
                'all_msg': self.all_msg, 'some_msg': self.some_msg, 'none_msg': self.none_msg,
                'failed_items_keys': [{'__object__': e.to_dict(), '__class__': type(e).__name__} for e, _ in self.failed],
                'failed_items_values': [ids for _, ids in self.failed]}
