# The daemons' status as a manager reports it: every basic service running, unless the test home's
# framework/daemon-states.json says otherwise (e.g. {"wazuh-db": "stopped"}).
import json
import os

STATES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'daemon-states.json')
DAEMONS = ['wazuh-modulesd', 'wazuh-analysisd', 'wazuh-execd', 'wazuh-db', 'wazuh-remoted', 'wazuh-clusterd']


def status():
    states = {d: 'running' for d in DAEMONS}
    if os.path.exists(STATES):
        with open(STATES) as f:
            states.update(json.load(f))
    return states
