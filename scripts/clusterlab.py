"""Shared pieces of the long runs (scripts/soak, scripts/scale): node homes on loopback, starting and
stopping clusterd processes, sampling their resources from /proc, and the regression slope wazuh-qa uses.
"""
import os, re, signal, socket, subprocess, time

TASK_LINE = re.compile(r"^(\S+ \S+) .*\[(Worker|Master) ?([^\]]*)\] \[([^\]]+)\] Finished in ([0-9.]+)s")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Lab:
    """A cluster of clusterd processes sharing one port and key, with homes under `base`."""

    def __init__(self, bin_dir, base, key, intervals):
        self.bin = bin_dir
        self.base = base
        self.key = key
        self.intervals = intervals
        self.port = free_port()
        self.procs = []

    def make_home(self, name, node_type):
        home = os.path.join(self.base, name)
        for d in ["etc/shared/default", "etc/rules", "etc/decoders", "etc/lists", "logs", "queue/cluster", "queue/db", "var/run"]:
            os.makedirs(os.path.join(home, d), exist_ok=True)
        with open(os.path.join(home, "etc/ossec.conf"), "w") as f:
            f.write(f"""<ossec_config><cluster><name>wazuh</name><node_name>{name}</node_name><node_type>{node_type}</node_type>
<key>{self.key}</key><port>{self.port}</port><bind_addr>127.0.0.1</bind_addr><nodes><node>127.0.0.1</node></nodes>
<hidden>no</hidden><disabled>no</disabled></cluster></ossec_config>
""")
        with open(os.path.join(home, "etc/cluster-internal.json"), "w") as f:
            f.write(self.intervals)
        return home

    def start(self, home):
        log = open(os.path.join(home, "stderr.log"), "w")
        p = subprocess.Popen([os.path.join(self.bin, "clusterd"), "-f", "-r", "--home", home], stdout=log, stderr=log)
        self.procs.append(p)
        return p

    def tool(self, name, *args, **kwargs):
        return subprocess.Popen([os.path.join(self.bin, name), *args], **kwargs)

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def wait_for(path, text, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if text in open(path, errors="replace").read():
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    return False


def process_tree(pid):
    """The pid and its descendants (the framework executors a node may run)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def sample(pid):
    """(rss_kb, uss_kb, fds, cpu_ticks) of a process and its children summed."""
    rss = uss = fds = ticks = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                        uss += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{p}/fd"))
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return rss, uss, fds, ticks


def slope(ys):
    """Least-squares slope per sample (wazuh-qa's reg_cof: the linear regression coefficient)."""
    n = len(ys)
    if n < 2:
        return 0.0
    xs = range(n)
    mx, my = (n - 1) / 2, sum(ys) / n
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def task_times(log_path):
    """[(time text, tag, task, seconds)] of the `[Worker …] [<Task>] Finished in <s>s` lines of a cluster.log."""
    out = []
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                m = TASK_LINE.match(line)
                if m:
                    out.append((m.group(1), (m.group(2) + " " + m.group(3)).strip(), m.group(4), float(m.group(5))))
    except FileNotFoundError:
        pass
    return out
