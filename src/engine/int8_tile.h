/*
 * int8_tile.h
 *	  The AVX512-VNNI tile loop that the int8 GEMM (int8_kernels.c) and the
 *	  int8 convolution (int8_conv_kernels.c) share: the int32 sums of up to
 *	  8 rows by up to 4 vectors of 16 lanes, over groups of 4 bytes, each
 *	  row's 4 bytes broadcast to every lane and each vector's loaded.  The
 *	  GEMM broadcasts input rows' codes (u8) over a weight panel's vectors
 *	  (s8); the convolution broadcasts weight rows' codes (s8) over vectors
 *	  of input positions (u8).  Internal to src/engine; x86-64 only.
 */
#ifndef PI_INT8_TILE_H
#define PI_INT8_TILE_H

#include <immintrin.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Rows and vectors of a tile, at most. */
#define PI_TILE_MR 8
#define PI_TILE_NV 4

/*
 * acc[i * 16 * PI_TILE_NV + 16 * v + l] for rows i < mr and vectors v < nv:
 * the sum over groups g < groups of the dot product of row i's 4 bytes at
 * rows + i * row_bytes + 4 * g with lane l's 4 bytes of vector v at
 * vectors + at(g) + 64 * v, at(g) being off[g] with by_offsets, else
 * g * group_bytes.  rows_signed: the rows hold the s8 codes and the
 * vectors the u8 ones; else the other way round.  mr, nv, by_offsets and
 * rows_signed are constants where it is inlined, so that the sums stay in
 * registers and no branch is left.
 */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static inline
__attribute__((always_inline)) void
pi_vnni_tile(const uint8_t *rows, int64_t row_bytes, const uint8_t *vectors, bool by_offsets,
			 const int64_t *off, int64_t group_bytes, int64_t groups, bool rows_signed,
			 int32_t *acc_out, const int mr, const int nv)
{
	__m512i		acc[PI_TILE_MR][PI_TILE_NV];

#pragma GCC unroll 8
	for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			acc[i][v] = _mm512_setzero_si512();
	for (int64_t g = 0; g < groups; g++)
	{
		const uint8_t *s = vectors + (by_offsets ? off[g] : g * group_bytes);
		__m512i		a[PI_TILE_NV];

#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			a[v] = _mm512_loadu_si512(s + 64 * v);
#pragma GCC unroll 8
		for (int i = 0; i < mr; i++)
		{
			int32_t		r4;
			__m512i		b;

			memcpy(&r4, rows + i * row_bytes + 4 * g, sizeof(r4));
			b = _mm512_set1_epi32(r4);
#pragma GCC unroll 4
			for (int v = 0; v < nv; v++)
				acc[i][v] = rows_signed ? _mm512_dpbusd_epi32(acc[i][v], a[v], b) :
					_mm512_dpbusd_epi32(acc[i][v], b, a[v]);
		}
	}
#pragma GCC unroll 8
	for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			_mm512_storeu_si512(acc_out + i * 16 * PI_TILE_NV + 16 * v, acc[i][v]);
}

#endif							/* PI_INT8_TILE_H */
