"""Writes of the privacy centre, one module per area; each function is ``<entity>_<verb>``.

policies (versions, acceptance), consent (the ledger), identity (re-authentication and codes),
rights (requests, deadlines, alerts), exports, erasure, retention, access_log, registration.
"""
