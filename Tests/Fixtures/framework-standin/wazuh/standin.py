# Functions that misbehave on purpose, for the framework-bridge tests.
import asyncio
import logging
import os
import sys
import time
from datetime import datetime

from wazuh.core import common
from wazuh.core.exception import WazuhError, WazuhInternalError
from wazuh.core.results import WazuhResult


def pid():
    return WazuhResult({'pid': os.getpid(), 'origin_module': common.origin_module.get()})


def hang():
    while True:
        time.sleep(3600)


def fail(code=2007, extra=None):
    raise WazuhError(code, extra)


def fail_internal():
    raise WazuhInternalError(1000, 'the stand-in failed on purpose')


def boom():
    raise ValueError('a plain Python error')


def die(status=3):
    sys.stderr.write('ERROR: the stand-in exits with status {}\n'.format(status))
    sys.stderr.flush()
    os._exit(status)


def shout(lines=1, length=10, text='x'):
    # print() goes to the executor's stdout, which must not reach the answer frames.
    for i in range(lines):
        print('{} {}'.format(i, text * length), flush=True)
    logging.getLogger('wazuh').warning('the stand-in logged a warning')
    return WazuhResult({'printed': lines})


async def later(value=None, delay=0):
    await asyncio.sleep(delay)
    return WazuhResult({'value': value, 'current_user': common.current_user.get()})


def stamped():
    return WazuhResult({'at': datetime(2024, 6, 1, 10, 0, 0)})


class Tool:
    @staticmethod
    def describe(name='x'):
        return WazuhResult({'described': name})


def with_client(lc=None):
    # A request with local_client_arg 'lc' gets a LocalClient of the framework under that name.
    return WazuhResult({'client': type(lc).__name__, 'made_by': getattr(lc, 'made_by', None)})


_calls = {'n': 0}


@common.context_cached('counted')
def _counted():
    _calls['n'] += 1
    return _calls['n']


def counted():
    # Within one request the cached value; a new request computes it again.
    return WazuhResult({'first': _counted(), 'again': _counted()})
