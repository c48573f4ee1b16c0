"""The workloads' containers, whatever the engine (appliance/engines/): their lifecycle, limits, warm
pool, reconciliation and cleanup. A workload is what the appliance runs in one container: a project's
agent, a user's desktop, a pod several projects share, or a warm-pool container no project has
claimed yet."""
