/// Texts `cluster_control` prints about itself.
enum HelpText {
    static let synopsis = "usage: cluster_control [-h] [--home DIR] [-d] [-fn [NODE ...]] [-fs [STATUS ...]] [--json] [-l | -i [more] | -a | -u]"

    /// `-h` / `--help`, and what a command line without an action prints.
    static let help = """
    \(synopsis)

    Show the nodes, the synchronization health and the agents of the cluster, as the local clusterd
    daemon (master or worker) sees them. The daemon is asked through <home>/queue/cluster/c-internal.sock.

    actions (one at a time):
      -l, --list-nodes           list the connected nodes: the master first, then the workers
      -i, --health [more]        last synchronization of each worker; "more" adds durations,
                                 permissions, file counts and every node's agent count
      -a, --list-agents          list the agents with their status and the node they report to
      -u, --usage                print usage examples

    options:
      -fn, --filter-node [NODE ...]
                                 only these nodes (with -l, -i and -a)
      -fs, --filter-agent-status [STATUS ...]
                                 only agents with this status (with -a only); several values are
                                 joined with commas into one filter, as in Wazuh 4.8.1
      --json                     print the data as one line of JSON instead of a table
      --home DIR                 installation directory (default: $CLUSTERD_HOME, else /var/ossec)
      -d, --debug                print the requests and replies on stderr
      -h, --help                 show this help and exit

    exit status:
      0  success (also -h, -u, and no action)
      1  the cluster is not running or disabled, the configuration is invalid, the request failed,
         or -fs was given without -a (Wazuh 4.8.1 exits 0 after a failed request; this tool does not)
      2  the command line could not be parsed

    examples:
      cluster_control -l
      cluster_control -i more
      cluster_control -a -fn worker1 -fs active
      cluster_control -l --json | jq -r '.items[].name'

    """

    /// `-u`: the 4.8.1-style usage summary with examples, headed by the program name.
    static func usage(program: String) -> String {
        """

        \(program) [-h] [-d] [-fn [FILTER_NODE ...]] [-fs [FILTER_STATUS ...]][-a | -l | -i [HEALTH]]
        Usage:
        \t-l                                    # List all nodes present in the cluster
        \t-l -fn <node_name>                    # List certain nodes of the cluster
        \t-a                                    # List all agents connected to the cluster
        \t-a -fn <node_name>                    # List the agents connected to a specific node
        \t-a -fs <agent_status>                 # List the agents with a certain status
        \t-a -fn <node_name> -fs <agent_status> # List the agents of a node with a certain status
        \t-i                                    # Check the cluster health
        \t-i -fn <node_name>                    # Check the health of certain nodes

        Params:
        \t-fn, --filter-node
        \t-fs, --filter-agent-status
        \t-a, --list-agents
        \t-l, --list-nodes
        \t-i, --health


        """
    }
}
