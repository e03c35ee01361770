/* crc32c.h -- CRC32C (Castagnoli), SSE4.2 when the CPU has it. */
#ifndef TRADES_CRC32C_H
#define TRADES_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c(0, data, len) gives the standard CRC32C ("123456789" -> 0xE3069283);
 * pass a previous result as crc to continue over more bytes. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/* Copies len bytes from src to dst (not overlapping) and returns
 * crc32c(crc, src, len), in one pass of 8-byte words: nothing is read back
 * from dst, and no wide load has to gather a word from several narrow
 * stores still in the store buffer (a record just built field by field). */
uint32_t crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len);

#endif
