import ArgumentParser

AgentSim.main()
