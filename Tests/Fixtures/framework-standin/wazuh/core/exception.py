# Exceptions with the encoded shape of LOCAL-DAPI-CONTROL.md §2.2 and the messages of §2.8.
from copy import deepcopy

GENERIC_ERROR_MSG = 'Wazuh Internal Error. See log for further detail'

MESSAGES = {
    1000: 'Wazuh Internal Error',
    1017: 'Some Wazuh daemons are not ready yet in node "{node_name}" ({not_ready_daemons})',
    1701: 'Agent does not exist',
    2007: 'Error retrieving data from Wazuh DB',
    3021: 'Timeout executing API request',
}


class WazuhException(Exception):
    title = 'Wazuh Exception'

    def __init__(self, code, extra_message=None, extra_remediation=None, cmd_error=False, dapi_errors=None):
        super().__init__(code, extra_message)
        self.code = code
        self.extra_message = extra_message
        self.extra_remediation = extra_remediation
        self.cmd_error = cmd_error
        self.dapi_errors = {} if dapi_errors is None else deepcopy(dapi_errors)

    @property
    def message(self):
        base = MESSAGES.get(self.code, 'Error {}'.format(self.code))
        if isinstance(self.extra_message, dict):
            return base.format(**self.extra_message)
        return base if self.extra_message is None else '{}: {}'.format(base, self.extra_message)

    def __str__(self):
        return 'Error {} - {}'.format(self.code, self.message)

    def to_dict(self):
        return {'type': 'about:blank', 'title': self.title, 'code': self.code, 'extra_message': self.extra_message,
                'extra_remediation': self.extra_remediation, 'cmd_error': self.cmd_error,
                'dapi_errors': self.dapi_errors}


class WazuhInternalError(WazuhException):
    title = 'Wazuh Internal Error'


class WazuhClusterError(WazuhInternalError):
    title = 'Wazuh Cluster Error'


class WazuhError(WazuhException):
    title = 'Bad Request'

    def __init__(self, code, extra_message=None, extra_remediation=None, cmd_error=False, dapi_errors=None, ids=None):
        super().__init__(code, extra_message, extra_remediation, cmd_error, dapi_errors)
        self.ids = [] if ids is None else list(ids)

    def to_dict(self):
        d = super().to_dict()
        d['ids'] = list(self.ids)
        return d


class WazuhPermissionError(WazuhError):
    title = 'Permission Denied'


class WazuhResourceNotFound(WazuhError):
    title = 'Resource Not Found'
