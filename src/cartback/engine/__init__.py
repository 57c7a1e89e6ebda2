"""
The worker: claims due rows, decides through the services, keeps a heartbeat; and the clocks.
"""
