/*
 * fuzz_common.c
 *	  The sanitizers' defaults for every fuzz build (with the standalone
 *	  drivers or libFuzzer), and the drivers' pseudo-random numbers: one
 *	  xorshift64* sequence per process, seeded by the driver.
 */
#include "fuzz_common.h"

static uint64_t rng_state;

/* ASan defaults: a huge malloc fails cleanly instead of aborting. */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "allocator_may_return_null=1:detect_leaks=1";
}

/* UBSan defaults: stack traces, and abort() so that the input gets saved. */
const char *__ubsan_default_options(void);
const char *
__ubsan_default_options(void)
{
	return "print_stacktrace=1:halt_on_error=1:abort_on_error=1";
}

/* Starts the sequence of fuzz_rnd() from seed. */
void
fuzz_rng_seed(uint64_t seed)
{
	rng_state = seed;
}

/* Next pseudo-random number (xorshift64*). */
uint64_t
fuzz_rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

/* A pseudo-random number below n (0 when n is 0). */
size_t
fuzz_below(size_t n)
{
	return n == 0 ? 0 : (size_t) (fuzz_rnd() % n);
}
