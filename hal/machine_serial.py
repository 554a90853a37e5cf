"""The pump link on a hardware UART: `Serial(uart_id, tx, rx, baud=115200)`.

`read(n)` returns up to n bytes or None when nothing came (never waits: timeout 0);
`write(buf)` queues bytes in the UART's transmit buffer and returns how many it took.
Pins are GPIO numbers from the board file; 8N1, no flow control.
"""

import machine


class Serial:
    def __init__(self, uart_id, tx, rx, baud=115200, rxbuf=1024, txbuf=1024):
        self._uart = machine.UART(
            uart_id,
            baudrate=baud,
            bits=8,
            parity=None,
            stop=1,
            tx=machine.Pin(tx),
            rx=machine.Pin(rx),
            rxbuf=rxbuf,
            txbuf=txbuf,
            timeout=0,
            timeout_char=0,
        )
        self._any = self._uart.any

    def any(self):
        """How many received bytes wait in the buffer (a sleeping loop wakes on them)."""
        return self._any()

    def read(self, n):
        if not self._any():
            return None
        return self._uart.read(n)

    def write(self, buf):
        n = self._uart.write(buf)
        return n or 0
