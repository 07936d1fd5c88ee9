# Stand-in framework for clusterd's tests (not Wazuh's code).
__version__ = '4.8.1-standin'
