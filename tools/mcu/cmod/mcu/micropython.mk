# The `mcu` C module of the patient-programmer Cortex-M target (tools/mcu): a RAM block device
# for littlefs and the mp_hal_time_ns that littlefs needs to link (the qemu port has none).
MCU_MOD_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(MCU_MOD_DIR)/mcu.c
CFLAGS_USERMOD += -I$(MCU_MOD_DIR)
