"""MuLan two-tower music–text model (audio tower from ``lyrebird.encoders``, text tower, DCL).

Imports only ``lyrebird.encoders``. Populated by the MuLan issue.
"""
