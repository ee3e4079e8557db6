"""Simulated instruments: a physics model of a tray of cells behind servers that speak the real command sets.

`SimulatedStation` (station.py) starts a simulated Hioki BT4560, Keithley 2400,
Keithley 2281S and tray switch on real transports (TCP sockets, pseudo-terminals), all
looking at one shared `Tray` (tray.py) of equivalent-circuit cells (cell.py). Nothing in
the client drivers knows it is talking to a simulator. See docs/simulator.md.
"""
