# A stand-in for an API authentication function (4.8.1 runs these in a pool of their own).
import os

from wazuh.core.results import WazuhResult


def get_security_conf():
    return WazuhResult({'auth_token_exp_timeout': 900, 'pid': os.getpid()})
