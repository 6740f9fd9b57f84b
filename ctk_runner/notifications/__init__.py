"""Folder NT1: the notification hub and the four Customer events.

``folder`` sends the hub requests and waits for the events, ``listener`` is
the HTTP server the target calls back, ``checks`` judges what arrived.
"""
