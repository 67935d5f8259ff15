"""The gridaios wire formats, defined once for every side that speaks them.

- ``gridaios_wire.jsonv1``: the JSON wire format v1 over MQTT (topics, messages,
  encoding and decoding); standard library only.
- ``gridaios_wire.battery_map``: the bridge battery's Modbus register map (addresses,
  scaling, what a read decodes to); standard library only.
- ``gridaios_wire.modbus_device``: a register map served as a Modbus TCP device with
  pymodbus (the bridge's emulated inverter and the virtual field's battery face).

Used by the runtime (``connectors``, ``runtime``), the simulator and the firmware bridge;
it imports nothing else of ours. Specification: ``docs/wire-format.md``.
"""
