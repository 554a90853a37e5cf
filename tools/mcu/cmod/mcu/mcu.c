// The `mcu` module of the patient-programmer Cortex-M target (built by tools/mcu).
//
// mcu.RAMDisk(): the block device that holds the littlefs file system (the event log, the
// prescription, and in the .mpy variant the firmware's modules). Its blocks are one static
// array in .bss, outside the MicroPython heap: reads and writes allocate nothing (a block
// device written in Python tripled the garbage of every poll). The array survives a soft
// reset; qemu starting again is a power cycle and empties it (the host copies the files in
// and out, see tools/mcu/qemu.py).
// mcu.RAMDISK_SIZE: its size in bytes (MCU_RAMDISK_SIZE at build time).
// mp_hal_time_ns(): littlefs stamps files with it; the qemu port has no clock of the day, so
// it is the time since reset.

#include <string.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "extmod/vfs.h"

#ifndef MCU_RAMDISK_SIZE
#define MCU_RAMDISK_SIZE (64 * 1024)
#endif
#define MCU_BLOCK_SIZE (256)
#define MCU_BLOCK_COUNT (MCU_RAMDISK_SIZE / MCU_BLOCK_SIZE)

static uint8_t mcu_ramdisk[MCU_BLOCK_COUNT * MCU_BLOCK_SIZE];

uint64_t mp_hal_time_ns(void) {
    return (uint64_t)mp_hal_ticks_ms() * 1000000ULL;
}

typedef struct _mcu_ramdisk_obj_t {
    mp_obj_base_t base;
} mcu_ramdisk_obj_t;

static const mp_obj_type_t mcu_ramdisk_type;
static const mcu_ramdisk_obj_t mcu_ramdisk_obj = {{&mcu_ramdisk_type}};

static mp_obj_t mcu_ramdisk_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    return MP_OBJ_FROM_PTR(&mcu_ramdisk_obj);
}

// Checks (block, offset, len) against the disk; returns the byte offset or -1.
static mp_int_t mcu_ramdisk_span(mp_obj_t block_in, size_t len, size_t n_args, const mp_obj_t *args) {
    mp_int_t block = mp_obj_get_int(block_in);
    mp_int_t off = n_args > 3 ? mp_obj_get_int(args[3]) : 0;
    if (block < 0 || off < 0) {
        return -1;
    }
    mp_int_t start = block * MCU_BLOCK_SIZE + off;
    if ((size_t)start + len > sizeof(mcu_ramdisk)) {
        return -1;
    }
    return start;
}

static mp_obj_t mcu_ramdisk_readblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, MP_BUFFER_WRITE);
    mp_int_t start = mcu_ramdisk_span(args[1], buf.len, n_args, args);
    if (start < 0) {
        return MP_OBJ_NEW_SMALL_INT(-MP_EIO);
    }
    memcpy(buf.buf, mcu_ramdisk + start, buf.len);
    return MP_OBJ_NEW_SMALL_INT(0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mcu_ramdisk_readblocks_obj, 3, 4, mcu_ramdisk_readblocks);

static mp_obj_t mcu_ramdisk_writeblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, MP_BUFFER_READ);
    mp_int_t start = mcu_ramdisk_span(args[1], buf.len, n_args, args);
    if (start < 0) {
        return MP_OBJ_NEW_SMALL_INT(-MP_EIO);
    }
    memcpy(mcu_ramdisk + start, buf.buf, buf.len);
    return MP_OBJ_NEW_SMALL_INT(0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(mcu_ramdisk_writeblocks_obj, 3, 4, mcu_ramdisk_writeblocks);

static mp_obj_t mcu_ramdisk_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    switch (mp_obj_get_int(op_in)) {
        case MP_BLOCKDEV_IOCTL_BLOCK_COUNT:
            return MP_OBJ_NEW_SMALL_INT(MCU_BLOCK_COUNT);
        case MP_BLOCKDEV_IOCTL_BLOCK_SIZE:
            return MP_OBJ_NEW_SMALL_INT(MCU_BLOCK_SIZE);
        case MP_BLOCKDEV_IOCTL_BLOCK_ERASE: {
            mp_int_t block = mp_obj_get_int(arg_in);
            if (block < 0 || block >= MCU_BLOCK_COUNT) {
                return MP_OBJ_NEW_SMALL_INT(-MP_EIO);
            }
            memset(mcu_ramdisk + block * MCU_BLOCK_SIZE, 0xff, MCU_BLOCK_SIZE);
            return MP_OBJ_NEW_SMALL_INT(0);
        }
        default:  // init, deinit, sync: nothing to do
            return MP_OBJ_NEW_SMALL_INT(0);
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(mcu_ramdisk_ioctl_obj, mcu_ramdisk_ioctl);

static const mp_rom_map_elem_t mcu_ramdisk_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&mcu_ramdisk_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&mcu_ramdisk_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&mcu_ramdisk_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(mcu_ramdisk_locals, mcu_ramdisk_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    mcu_ramdisk_type,
    MP_QSTR_RAMDisk,
    MP_TYPE_FLAG_NONE,
    make_new, mcu_ramdisk_make_new,
    locals_dict, &mcu_ramdisk_locals
    );

static const mp_rom_map_elem_t mcu_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_mcu) },
    { MP_ROM_QSTR(MP_QSTR_RAMDisk), MP_ROM_PTR(&mcu_ramdisk_type) },
    { MP_ROM_QSTR(MP_QSTR_RAMDISK_SIZE), MP_ROM_INT(MCU_BLOCK_COUNT * MCU_BLOCK_SIZE) },
};
static MP_DEFINE_CONST_DICT(mcu_module_globals, mcu_module_globals_table);

const mp_obj_module_t mcu_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&mcu_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_mcu, mcu_user_cmodule);
