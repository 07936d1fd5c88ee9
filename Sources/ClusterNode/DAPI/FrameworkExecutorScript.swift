/// The executor clusterd runs in the node's Python to call framework functions (our own script, written
/// from LOCAL-DAPI-CONTROL.md §2.2, §2.3 and §2.8; see the comment at its top for the framing).
///
/// Why it lives in the binary and arrives on stdin: the interpreter is started as
/// `python3 -I -u -c <bootstrap> clusterd-framework-executor`, and the short bootstrap reads the script
/// as the first frame of its stdin and runs it. Nothing is written to disk (no file for another user to
/// replace, none left behind by a crash, none out of step with the binary that talks to it), and the
/// command line `ps` shows stays short, unlike `-c <whole script>`. `-I` keeps `PYTHON*` variables and
/// the user's site directory out of the executor.
enum FrameworkExecutorScript {
    /// Reads one frame (4-byte big-endian length, then the bytes) from fd 0 unbuffered, so that no byte
    /// of the frames after it is swallowed by a buffer, and runs it. One line, for `ps`.
    static let bootstrap = #"import os,sys,struct;r=lambda n,b=b'':b if len(b)>=n else r(n,b+(os.read(0,n-len(b)) or sys.exit(3)));exec(compile(r(struct.unpack('>I',r(4))[0]),'clusterd-framework-executor','exec'))"#

    /// The name tracebacks show for the script's lines.
    static let name = "clusterd-framework-executor"

    static let source = #"""
# clusterd's framework executor: runs, one request at a time, the Wazuh framework functions clusterd
# does not serve itself (LOCAL-DAPI-CONTROL.md §2.2, §2.3, §2.8). Written for clusterd from the spec.
#
# Frames both ways are a 4-byte big-endian length and that many bytes. clusterd sends this script,
# then a JSON settings object, then one distributed-API request body per frame. The executor answers
# each with a kind byte and its payload: b'k' ready (JSON, once, after the framework is imported),
# b'r' the result encoded with the framework's WazuhJSONEncoder, b'e' an exception so encoded, b'x' a
# request that names nothing to run (text; clusterd sends it back as dapi_err), b'f' an answer that
# could not be encoded (text). Its own lines and the framework's output go to stderr, which clusterd
# writes to cluster.log; a line starting with a level name ("ERROR: ") is logged at that level.
import asyncio
import contextvars
import inspect
import json
import logging
import os
import signal
import struct
import sys

logger = logging.getLogger('clusterd.framework')
BASIC_SERVICES = ['wazuh-modulesd', 'wazuh-analysisd', 'wazuh-execd', 'wazuh-db', 'wazuh-remoted']


def read_exactly(fd, n):
    data = b''
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None if not data else data
        data += chunk
    return data


def read_frame(fd):
    header = read_exactly(fd, 4)
    if header is None:
        return None
    if len(header) < 4:
        raise EOFError('clusterd closed the request pipe inside a frame header')
    (length,) = struct.unpack('>I', header)
    body = read_exactly(fd, length) if length else b''
    if body is None or len(body) < length:
        raise EOFError('clusterd closed the request pipe inside a frame')
    return body


def write_frame(fd, kind, payload):
    data = struct.pack('>I', len(payload) + 1) + kind + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def die_with_parent(parent):
    # A daemon killed outright must not leave executors behind: ask Linux to kill this process when the
    # thread that started it ends, then check that it has not ended already.
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    if parent is not None and os.getppid() != parent:
        os._exit(0)


class Executor:
    def __init__(self, settings):
        self.node = settings.get('node') or 'unknown-node'
        self.logfile = settings.get('logfile') or 'WAZUH_HOME/logs/cluster.log'
        from wazuh.core import common, exception
        from wazuh.core.cluster import common as cluster_common
        self.common = common
        self.exception = exception
        self.object_hook = cluster_common.as_wazuh_object
        self.encoder = cluster_common.WazuhJSONEncoder
        self.generic_message = getattr(exception, 'GENERIC_ERROR_MSG', 'Wazuh Internal Error. See log for further detail')
        self.reset_cache = getattr(common, 'reset_context_cache', None)
        try:
            from wazuh.core import manager
            self.daemon_status = manager.status
        except (ImportError, AttributeError):
            self.daemon_status = None

    def ready_info(self):
        import wazuh
        return {'pid': os.getpid(), 'python': sys.version.split()[0],
                'framework': getattr(wazuh, '__version__', None), 'wazuh': os.path.dirname(wazuh.__file__)}

    def encode(self, value):
        return json.dumps(value, cls=self.encoder).encode()

    def error_info(self, error, internal):
        # get_error_info (§2.8): where the request failed, and the log that says more.
        message = getattr(error, 'message', None) or self.generic_message
        info = {'error': message}
        if internal:
            info['logfile'] = self.logfile
        return {self.node: info}

    def serve(self, body):
        try:
            request = json.loads(body, object_hook=self.object_hook)
            f = request['f']
        except Exception as e:
            return b'x', str(e).encode()
        if not callable(f):
            described = f.get('__callable__', {}) if isinstance(f, dict) else {}
            name = '{}.{}'.format(described.get('__module__', '?'), described.get('__qualname__', '?'))
            return b'x', 'the framework has no function {}'.format(name).encode()
        name = '{}.{}'.format(getattr(f, '__module__', '?'), getattr(f, '__qualname__', getattr(f, '__name__', '?')))
        try:
            result = contextvars.copy_context().run(self.call, f, request)
            return b'r', self.encode(result)
        except BaseException as e:
            return self.failure(e, name)
        finally:
            # What the request cached is its own: this process serves the next one too.
            if self.reset_cache is not None:
                self.reset_cache()

    def check_daemons(self, f, request):
        # check_wazuh_status (§2.3): the basic services must be running, except to ask for their status.
        if self.daemon_status is None or f is self.daemon_status:
            return
        services = request.get('basic_services')
        status = self.daemon_status()
        not_ready = [(d, status.get(d)) for d in (BASIC_SERVICES if services is None else services)
                     if status.get(d) in ('failed', 'restarting', 'stopped')]
        if not_ready:
            raise self.exception.WazuhInternalError(1017, extra_message={
                'node_name': self.node, 'not_ready_daemons': ', '.join('{}->{}'.format(d, s) for d, s in not_ready)})

    def call(self, f, request):
        self.check_daemons(f, request)
        # The context of the request, as execute_local_request sets it (§2.3).
        for var, value in (('rbac', request.get('rbac_permissions', {'rbac_mode': 'black'})),
                           ('current_user', request.get('current_user', '')),
                           ('broadcast', request.get('broadcasting', False)),
                           ('cluster_nodes', request.get('nodes', [])),
                           ('origin_module', 'API')):
            context_var = getattr(self.common, var, None)
            if context_var is not None:
                context_var.set(value)
        kwargs = dict(request.get('f_kwargs') or {})
        if request.get('local_client_arg'):
            from wazuh.core.cluster import local_client
            kwargs[request['local_client_arg']] = local_client.LocalClient()
        result = f(**kwargs)
        if inspect.isawaitable(result):
            async def awaited():
                return await result
            result = asyncio.run(awaited())
        return result

    def failure(self, error, name):
        exception = self.exception
        try:
            if isinstance(error, exception.WazuhException):
                internal = isinstance(error, exception.WazuhInternalError)
                if internal:
                    logger.error('%s: %s', name, error.message,
                                 exc_info=not isinstance(error, exception.WazuhClusterError))
                error.dapi_errors = self.error_info(error, internal)
                return b'e', self.encode(error)
            logger.error('Unhandled exception (%s): %s', name, error, exc_info=error)
            wrapped = exception.WazuhInternalError(1000)
            wrapped.dapi_errors = self.error_info(None, True)
            return b'e', self.encode(wrapped)
        except Exception as e:
            logger.error('Could not encode the error of %s: %s', name, e, exc_info=e)
            return b'f', 'the framework could not encode the error of {}: {}'.format(name, e).encode()


def main():
    # Frames travel on private copies of stdin and stdout; what the framework reads from stdin is
    # /dev/null and what it prints goes to stderr, so nothing it does can break the framing.
    frames_in, frames_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # The daemon stops its executors itself; a terminal's Ctrl-C is not for them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = json.loads(read_frame(frames_in) or b'{}')
    die_with_parent(settings.get('parent'))
    logging.basicConfig(stream=sys.stderr, level=settings.get('log_level', 'INFO'),
                        format='%(levelname)s: %(message)s')
    if settings.get('path'):
        sys.path.insert(0, settings['path'])
    try:
        executor = Executor(settings)
        ready = executor.ready_info()
    except BaseException as e:
        logger.critical('Cannot load the Wazuh framework (sys.path %s): %s', sys.path, e, exc_info=e)
        return 2
    write_frame(frames_out, b'k', json.dumps(ready).encode())
    while True:
        body = read_frame(frames_in)
        if body is None:
            return 0
        kind, payload = executor.serve(body)
        write_frame(frames_out, kind, payload)


sys.exit(main())
"""#
}
