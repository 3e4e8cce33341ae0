"""The pure core: state machines, rules and text understanding. No I/O lives here.

Everything in this package takes plain values (a parsed mail, a clock reading,
the directory) and returns plain values (new state, effects to carry out).
"""
