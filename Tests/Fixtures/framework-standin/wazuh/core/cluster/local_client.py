# A stand-in for the framework's client of the local cluster socket: only what a test can tell apart.


class LocalClient:
    def __init__(self):
        self.made_by = 'the executor'
