"""Host-side programs (CPython only): pump emulator, scenario runner, simulator, deploy, clinician."""
