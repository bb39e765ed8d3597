"""Sandbox: untrusted or heavy work in child processes with memory, CPU and wall-clock limits (``limits``).

Upload checks run in a fresh child per call; compute jobs in a long-lived worker that serves them one at a time.
May import ``core`` only (it names ``models.uploads`` as a string, for the worker's start-up imports).
"""
