/* main.c - encore-server entry point (being written: see server/). */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "encore-server: not built yet\n");
    return 1;
}
