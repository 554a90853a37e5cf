"""The patient's screen: a 128x64 (or 128x32) SSD1306 OLED on I2C, four lines of 16 chars.

`Display(i2c_id, sda, scl)` builds the bus from the board file's pins and hands it to the
small `SSD1306` driver below (written from the datasheet: init sequence, horizontal
addressing, one control byte per transfer). `show(lines)` redraws only the lines that changed
and sends only their pages, so the app may call it every poll. A missing or failing display
does not stop the firmware: errors are counted and the screen is re-initialised later.
"""

import framebuf
import machine

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# SSD1306 commands (datasheet section 9)
_CONTRAST = const(0x81)
_RESUME_RAM = const(0xA4)
_NORMAL = const(0xA6)
_OFF = const(0xAE)
_ON = const(0xAF)
_ADDR_MODE = const(0x20)
_COLUMN_RANGE = const(0x21)
_PAGE_RANGE = const(0x22)
_START_LINE = const(0x40)
_SEG_REMAP = const(0xA1)
_MUX_RATIO = const(0xA8)
_COM_SCAN_DEC = const(0xC8)
_DISPLAY_OFFSET = const(0xD3)
_COM_PINS = const(0xDA)
_CLOCK_DIV = const(0xD5)
_PRECHARGE = const(0xD9)
_VCOMH = const(0xDB)
_CHARGE_PUMP = const(0x8D)
_CTRL_CMD = const(0x80)  # Co=1, D/C#=0: one command byte follows
_CTRL_DATA = b"\x40"  # Co=0, D/C#=1: display RAM bytes follow

_LINES = const(4)
_CHAR_W = const(8)
_CHAR_H = const(8)
_RETRY_EVERY = const(200)  # show() calls between attempts to re-initialise a failed display
_UNKNOWN = "\x00"  # what a line holds when the glass may differ from it: never equals real text


class SSD1306:
    """Driver: owns a MONO_VLSB framebuffer (`fb`) of the whole screen; `flush(first, last)`
    sends pages first..last (8 pixel rows each)."""

    def __init__(self, i2c, addr=0x3C, width=128, height=64):
        self.i2c = i2c
        self.addr = addr
        self.width = width
        self.height = height
        self.pages = height // 8
        self.buffer = bytearray(self.pages * width)
        self._mv = memoryview(self.buffer)
        self.fb = framebuf.FrameBuffer(self.buffer, width, height, framebuf.MONO_VLSB)
        self._cmd = bytearray(2)
        self._cmd[0] = _CTRL_CMD

    def command(self, byte):
        self._cmd[1] = byte
        self.i2c.writeto(self.addr, self._cmd)

    def init(self):
        com_pins = 0x12 if self.height == 64 else 0x02
        for byte in (
            _OFF,
            _ADDR_MODE, 0x00,  # horizontal addressing
            _START_LINE | 0,
            _SEG_REMAP,  # column 127 is SEG0: not mirrored on the usual modules
            _MUX_RATIO, self.height - 1,
            _COM_SCAN_DEC,
            _DISPLAY_OFFSET, 0x00,
            _COM_PINS, com_pins,
            _CLOCK_DIV, 0x80,
            _PRECHARGE, 0xF1,
            _VCOMH, 0x30,
            _CONTRAST, 0xCF,
            _RESUME_RAM,
            _NORMAL,
            _CHARGE_PUMP, 0x14,  # internal charge pump on
            _ON,
        ):  # fmt: skip
            self.command(byte)

    def flush(self, first=0, last=None):
        if last is None:
            last = self.pages - 1
        for byte in (_COLUMN_RANGE, 0, self.width - 1, _PAGE_RANGE, first, last):
            self.command(byte)
        self.i2c.writevto(self.addr, (_CTRL_DATA, self._mv[first * self.width : (last + 1) * self.width]))


class Display:
    def __init__(self, i2c_id, sda, scl, freq=400000, addr=0x3C, width=128, height=64):
        i2c = machine.I2C(i2c_id, sda=machine.Pin(sda), scl=machine.Pin(scl), freq=freq)
        self.oled = SSD1306(i2c, addr, width, height)
        self.pitch = height // _LINES  # pixel rows per text line (16 on a 64-row screen)
        self.cols = width // _CHAR_W
        self.lines = [_UNKNOWN] * _LINES  # what is on the glass
        self.ok = False
        self.errors = 0
        self._wait = 0
        self._start()

    def _start(self):
        try:
            self.oled.init()
            self.oled.fb.fill(0)
            self.oled.flush()
            for i in range(_LINES):
                self.lines[i] = ""  # the glass is blank now
            self.ok = True
        except OSError:
            self._failed()

    def _failed(self):
        self.ok = False
        self.errors += 1
        self._wait = _RETRY_EVERY
        for i in range(_LINES):
            self.lines[i] = _UNKNOWN

    def show(self, lines):
        if not self.ok:
            if self._wait > 0:
                self._wait -= 1
                return
            self._start()
            if not self.ok:
                return
        fb = self.oled.fb
        for i in range(_LINES):
            text = lines[i] if i < len(lines) else ""
            if len(text) > self.cols:
                text = text[: self.cols]
            if text == self.lines[i]:
                continue
            y = i * self.pitch
            fb.fill_rect(0, y, self.oled.width, self.pitch, 0)
            fb.text(text, 0, y + (self.pitch - _CHAR_H) // 2, 1)
            try:
                self.oled.flush(y // 8, (y + self.pitch - 1) // 8)
            except OSError:
                self._failed()
                return
            self.lines[i] = text
