/*
 * fuzz_common.h
 *	  What the two fuzz targets and their standalone drivers share
 *	  (test/fuzz/fuzz_common.c): the sanitizers' defaults and the drivers'
 *	  deterministic pseudo-random numbers.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Starts the sequence of fuzz_rnd() from seed. */
void		fuzz_rng_seed(uint64_t seed);

/* Next pseudo-random number (xorshift64*). */
uint64_t	fuzz_rnd(void);

/* A pseudo-random number below n (0 when n is 0). */
size_t		fuzz_below(size_t n);

#endif							/* FUZZ_COMMON_H */
