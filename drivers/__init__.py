"""Instrument drivers: one module per instrument model, each a thin typed API over the
instrument's own command set, plus the transports and the SCPI session they share.

Drivers know nothing of `bench`; procedures reach them through the capability
protocols in :mod:`drivers.protocols`.
"""
