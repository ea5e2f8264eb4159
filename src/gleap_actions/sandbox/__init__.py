"""A local emulator of the Gleap server API with fault injection."""
