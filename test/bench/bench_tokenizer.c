/*
 * bench_tokenizer.c
 *	  The C tokenizer's speed on a text file (built with -O3, no sanitizers):
 *
 *	    bench_tokenizer TOKENIZER.json TEXT_FILE REPEATS
 *
 *	  encodes every line of TEXT_FILE (without its newline), REPEATS times,
 *	  and prints "ids N cpu_s S": the ids made and the process CPU time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pi_text.h"
#include "test_files.h"

/* Process CPU time in seconds. */
static double
cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	size_t		json_len;
	size_t		text_len;
	char	   *json = argc == 4 ? test_read_file(argv[1], &json_len) : NULL;
	char	   *text = argc == 4 ? test_read_file(argv[2], &text_len) : NULL;
	int			repeats = argc == 4 ? atoi(argv[3]) : 0;
	PiTokenizer *tok;
	PiTokenIds	ids = {0};
	PiError		err = {0};
	long		total = 0;
	double		start;

	if (json == NULL || text == NULL || repeats < 1)
	{
		fprintf(stderr, "usage: %s TOKENIZER.json TEXT_FILE REPEATS\n", argv[0]);
		return 2;
	}
	if (pi_tokenizer_parse(json, json_len, &tok, &err) != PI_OK)
	{
		fprintf(stderr, "%s: %s\n", argv[1], err.message);
		return 1;
	}
	start = cpu_seconds();
	for (int r = 0; r < repeats; r++)
	{
		for (size_t at = 0; at < text_len;)
		{
			const char *nl = memchr(text + at, '\n', text_len - at);
			size_t		len = nl ? (size_t) (nl - (text + at)) : text_len - at;

			if (pi_tokenizer_encode(tok, text + at, len, 0, &ids, &err) != PI_OK)
			{
				fprintf(stderr, "encode: %s\n", err.message);
				return 1;
			}
			total += ids.count;
			at += len + 1;
		}
	}
	printf("ids %ld cpu_s %.6f\n", total, cpu_seconds() - start);
	pi_token_ids_free(&ids);
	pi_tokenizer_free(tok);
	free(json);
	free(text);
	return 0;
}
