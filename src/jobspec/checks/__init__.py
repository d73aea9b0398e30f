"""Pure checks the commands run, each in one place: no I/O, no clock, tested by tables.

planfile.py     a saved plan: sound against the state, made from the specs as they are
adoption.py     whether a job may be adopted as a spec's clone; the entry adopting it
import_rows.py  job ids, addresses and the rows of an import file
"""
