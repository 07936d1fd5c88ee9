import Foundation

// cluster_control: see HelpText.help and man/cluster_control.8.
let status = ControlTool(arguments: Array(CommandLine.arguments.dropFirst()),
                         environment: ProcessInfo.processInfo.environment).run()
exit(status)
