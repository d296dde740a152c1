/*
 * cmd_demo.c - encore-train demo-data --dir DIR: write Encore's embedded
 * demo data set, synthetic but structured, so the quick start needs no
 * download and carries no third-party data.
 *
 *   DIR/items.csv         itemId,title,genres   (movies.csv style, genres '|'-separated)
 *   DIR/interactions.tsv  user<TAB>item<TAB>weight
 *
 * The catalog is invented here: titles are put together from the word lists
 * below (genre words, adjectives, place names, sequel numerals) with a
 * release year; each item has a primary genre and up to two more. Items get
 * a Zipf-like popularity. Each synthetic user has latent tastes - one to
 * three favourite genres and a small interest in everything else - and picks
 * items with probability proportional to popularity^0.7 x taste, so the data
 * has the structure a recommender should find (users of a genre share items)
 * plus a popularity head. Weights (1-3, "how many times watched") grow with
 * the taste match. Everything comes from one seeded generator: the same
 * --seed always writes the same bytes.
 *
 * --counts writes play-count data instead, shaped like a music service's
 * listening log (write_counts):
 *   DIR/plays.tsv    user_id<TAB>artist_id<TAB>plays, with that header line
 *   DIR/artists.tsv  id<TAB>name<TAB>url<TAB>pictureURL, with that header
 * Users pick artists by the same taste model (70% of picks) or try one by
 * popularity alone (30%), and each pair's play count is
 *   plays = ceil(A_u * m^2 * B_i * X)      (a try: m^2 replaced by 0.05)
 * with A_u the user's activity (log-normal, median 20, sigma 1.2: users
 * differ a hundredfold), m the artist's taste match in [0, 1], B_i its
 * replay factor (log-normal, sigma 0.5) and X noise (log-normal, sigma 1).
 * So counts run from 1 to 10^4 and more and carry some signal (liked
 * genres are played more, tries little) under much noise (A_u, X): the
 * right answer (the tastes) is known, and a confidence that follows raw
 * counts (linear) trusts the noise.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/rng.h"
#include "trainer.h"

#define N_GENRES 14

static const char *const genres[N_GENRES] = {
    "Action",  "Adventure", "Animation", "Comedy", "Crime",    "Documentary", "Drama",
    "Fantasy", "Horror",    "Romance",   "Sci-Fi", "Thriller", "Western",     "Musical",
};

/* Eight title words per genre, in genre order. */
static const char *const genre_words[N_GENRES][8] = {
    {"Strike", "Fury", "Vendetta", "Impact", "Blast", "Rampage", "Ambush", "Firestorm"},
    {"Quest", "Voyage", "Expedition", "Island", "Treasure", "Journey", "Compass", "Lagoon"},
    {"Doodle", "Whiskers", "Balloon", "Pebble", "Sprout", "Rainbow", "Bubbles", "Puddle"},
    {"Mix-Up", "Shenanigans", "Wedding", "Roommates", "Vacation", "Blunder", "Caper", "Reunion"},
    {"Heist", "Alibi", "Racket", "Syndicate", "Witness", "Ledger", "Getaway", "Informant"},
    {"Rivers", "Harvest", "Machines", "Glaciers", "Voices", "Cities", "Bees", "Tides"},
    {"Letters", "Winter", "Promise", "Inheritance", "Silence", "Harbor", "Orchard", "Daughters"},
    {"Dragon", "Crown", "Spell", "Kingdom", "Sorcerer", "Amulet", "Oracle", "Realm"},
    {"Hollow", "Cellar", "Whispers", "Curse", "Fog", "Lullaby", "Attic", "Shadows"},
    {"Kiss", "Summer", "Serenade", "Heartstrings", "Moonlight", "Valentine", "Sweetheart",
     "Postcards"},
    {"Orbit", "Nebula", "Android", "Colony", "Signal", "Quantum", "Starship", "Horizon"},
    {"Conspiracy", "Countdown", "Deadline", "Cipher", "Blackout", "Vertigo", "Double", "Trapdoor"},
    {"Saddle", "Canyon", "Outlaw", "Sheriff", "Frontier", "Dust", "Gunslinger", "Prairie"},
    {"Encore", "Rhythm", "Melody", "Broadway", "Chorus", "Tango", "Jukebox", "Overture"},
};

static const char *const adjectives[] = {
    "Silent", "Last",   "Broken",   "Golden", "Crimson", "Midnight", "Lost",
    "Hidden", "Final",  "Electric", "Wild",   "Distant", "Burning",  "Frozen",
    "Secret", "Little", "Long",     "Iron",   "Velvet",  "Lonely",
};

static const char *const places[] = {
    "Avalon",      "Brighton",      "Cairo",  "Dakota",    "Everton",
    "Fairview",    "Granite Falls", "Harlow", "Ironwood",  "Juniper",
    "Kestrel Bay", "Larkspur",      "Marlow", "Northgate", "Oakridge",
};

static const char *const suffixes[] = {
    "Returns", "Rising", "Chronicles", "Protocol", "Affair", "Diaries", "Legacy", "Files",
};

static const char *const numerals[] = {"II", "III", "IV"};

#define COUNT(a) (sizeof a / sizeof *a)

struct rng {
    uint64_t s;
};

static double uniform(struct rng *r)
{
    return rng_uniform(&r->s);
}

static size_t below(struct rng *r, size_t n)
{
    return (size_t)(uniform(r) * (double)n);
}

struct item {
    char title[96];
    unsigned genre_mask;
    double pop;
};

static void make_title(struct rng *r, int g, char *out, size_t cap)
{
    const char *w = genre_words[g][below(r, 8)];
    const char *adj = adjectives[below(r, COUNT(adjectives))];
    const char *pl = places[below(r, COUNT(places))];
    int year = 1950 + (int)below(r, 74);
    switch (below(r, 6)) {
    case 0:
        snprintf(out, cap, "The %s %s (%d)", adj, w, year);
        break;
    case 1:
        snprintf(out, cap, "%s of %s (%d)", w, pl, year);
        break;
    case 2:
        snprintf(out, cap, "%s %s (%d)", adj, w, year);
        break;
    case 3:
        snprintf(out, cap, "%s %s (%d)", pl, w, year);
        break;
    case 4:
        snprintf(out, cap, "The %s %s (%d)", w, suffixes[below(r, COUNT(suffixes))], year);
        break;
    default:
        snprintf(out, cap, "%s %s %s (%d)", adj, w, numerals[below(r, COUNT(numerals))], year);
        break;
    }
}

/* Write `s` as one CSV field (quoted when it holds a comma or quote). */
static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* mkdir -p: create `dir` and its missing parents. */
static int make_dirs(const char *dir)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, dir, n + 1);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The catalog: a primary genre round the list (balanced), up to two more, a
 * unique title, and a Zipf-like popularity by a shuffled rank (w is scratch). */
static void make_catalog(struct rng *r, struct item *items, double *w, size_t ni)
{
    for (size_t i = 0; i < ni; i++) {
        int g = (int)(i % N_GENRES);
        items[i].genre_mask = 1u << g;
        size_t extra = below(r, 3);
        for (size_t e = 0; e < extra; e++)
            items[i].genre_mask |= 1u << below(r, N_GENRES);
        for (int attempt = 0;; attempt++) {
            make_title(r, g, items[i].title, sizeof items[i].title);
            int dup = 0;
            for (size_t k = 0; k < i && !dup; k++)
                dup = strcmp(items[k].title, items[i].title) == 0;
            if (!dup || attempt > 50)
                break;
        }
    }
    for (size_t i = 0; i < ni; i++)
        w[i] = (double)i;
    for (size_t i = ni; i > 1; i--) { /* Fisher-Yates: popularity rank per item */
        size_t k = below(r, i);
        double t = w[i - 1];
        w[i - 1] = w[k];
        w[k] = t;
    }
    for (size_t i = 0; i < ni; i++)
        items[i].pop = pow(1.0 + w[i], -0.9);
}

static void write_items(FILE *fi, const struct item *items, size_t ni)
{
    fprintf(fi, "itemId,title,genres\n");
    for (size_t i = 0; i < ni; i++) {
        fprintf(fi, "%zu,", i + 1);
        csv_field(fi, items[i].title);
        fputc(',', fi);
        int first = 1;
        for (int g = 0; g < N_GENRES; g++)
            if (items[i].genre_mask & (1u << g)) {
                fprintf(fi, "%s%s", first ? "" : "|", genres[g]);
                first = 0;
            }
        fputc('\n', fi);
    }
}

static double genre_taste(const double *taste, unsigned mask)
{
    double t = 0;
    for (int g = 0; g < N_GENRES; g++)
        if (mask & (1u << g))
            t += taste[g];
    return t;
}

/* User u's interactions, drawn from their tastes without replacement, as
 * "user<TAB>item<TAB>weight" lines; returns how many. w and taken are
 * scratch of ni each. */
static size_t write_user(FILE *fu, struct rng *r, const struct item *items, double *w,
                         unsigned char *taken, size_t ni, size_t u, int64_t mean_len)
{
    /* Tastes: 1-3 favourite genres, a little interest in the rest. */
    double taste[N_GENRES];
    for (int g = 0; g < N_GENRES; g++)
        taste[g] = 0.03;
    size_t fav = 1 + below(r, 3);
    for (size_t k = 0; k < fav; k++)
        taste[below(r, N_GENRES)] += 1.0 / (double)(k + 1);
    double sum = 0;
    for (size_t i = 0; i < ni; i++) {
        double t = genre_taste(taste, items[i].genre_mask);
        w[i] = pow(items[i].pop, 0.7) * t * t;
        sum += w[i];
        taken[i] = 0;
    }
    /* Length: 5 + geometric-ish, mean about mean_len, capped at half the catalog. */
    size_t len = 5 + (size_t)(-log(1.0 - uniform(r)) * (double)(mean_len - 5));
    if (len > ni / 2)
        len = ni / 2;
    size_t n = 0;
    for (; n < len && sum > 0; n++) {
        double x = uniform(r) * sum, acc = 0;
        size_t pick = ni - 1;
        for (size_t i = 0; i < ni; i++) {
            acc += w[i];
            if (x < acc) {
                pick = i;
                break;
            }
        }
        while (taken[pick]) /* walk to the next untaken item (rare) */
            pick = (pick + 1) % ni;
        taken[pick] = 1;
        sum -= w[pick];
        w[pick] = 0;
        double t = genre_taste(taste, items[pick].genre_mask);
        int weight = 1 + (t > 0.9) + (t > 0.9 && uniform(r) < 0.5);
        fprintf(fu, "%zu\t%zu\t%d\n", u + 1, pick + 1, weight);
    }
    return n;
}

/* A standard normal draw (Box-Muller). */
static double normal(struct rng *r)
{
    double u = uniform(r), v = uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(2 * M_PI * v);
}

static const char *const band_places[] = {
    "Avalon",        "Brighton",         "Cairo",  "Dakota",    "Malm\xc3\xb6",
    "Z\xc3\xbcrich", "S\xc3\xa3o Paulo", "Harlow", "Ironwood",  "Juniper",
    "Kestrel Bay",   "Reykjav\xc3\xadk", "Marlow", "Northgate",
};

/* An artist name from the word lists ("The Crimson Orbit", "Malmo Tides"). */
static void make_artist(struct rng *r, int g, char *out, size_t cap)
{
    const char *w = genre_words[g][below(r, 8)];
    const char *adj = adjectives[below(r, COUNT(adjectives))];
    const char *pl = band_places[below(r, COUNT(band_places))];
    switch (below(r, 4)) {
    case 0:
        snprintf(out, cap, "The %s %s", adj, w);
        break;
    case 1:
        snprintf(out, cap, "%s of %s", w, pl);
        break;
    case 2:
        snprintf(out, cap, "%s %s", pl, w);
        break;
    default:
        snprintf(out, cap, "%s %s & the %s", adj, w, genre_words[g][below(r, 8)]);
        break;
    }
}

/* --counts: plays.tsv and artists.tsv (see the top of the file). */
static int write_counts(const char *dir, struct rng *r, struct item *items, size_t ni, size_t nu,
                        int64_t mean_len, double *w, unsigned char *taken)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/artists.tsv", dir);
    FILE *fa = fopen(path, "w");
    snprintf(path, sizeof path, "%s/plays.tsv", dir);
    FILE *fp = fopen(path, "w");
    double *replay = malloc(ni * sizeof *replay);
    if (!fa || !fp || !replay) {
        fprintf(stderr, "encore-train demo-data: %s: cannot write: %s\n", path, strerror(errno));
        if (fa)
            fclose(fa);
        if (fp)
            fclose(fp);
        free(replay);
        return 1;
    }
    fprintf(fa, "id\tname\turl\tpictureURL\n");
    for (size_t i = 0; i < ni; i++) {
        char name[96];
        make_artist(r, (int)(i % N_GENRES), name, sizeof name);
        fprintf(fa, "%zu\t%s\thttps://music.example/artist/%zu\thttps://img.example/%zu.jpg\n",
                i + 1, name, i + 1, i + 1);
        replay[i] = exp(0.5 * normal(r));
    }
    fprintf(fp, "user_id\tartist_id\tplays\n");
    size_t total = 0;
    double maxp = 0;
    for (size_t u = 0; u < nu; u++) {
        double taste[N_GENRES], tmax = 0;
        for (int g = 0; g < N_GENRES; g++)
            taste[g] = 0.03;
        size_t fav = 1 + below(r, 3);
        for (size_t k = 0; k < fav; k++)
            taste[below(r, N_GENRES)] += 1.0 / (double)(k + 1);
        double sum = 0;
        for (size_t i = 0; i < ni; i++) {
            double t = genre_taste(taste, items[i].genre_mask);
            tmax = t > tmax ? t : tmax;
            w[i] = pow(items[i].pop, 0.7) * t * t;
            sum += w[i];
            taken[i] = 0;
        }
        double activity = 20.0 * exp(1.2 * normal(r));
        size_t len = 5 + (size_t)(-log(1.0 - uniform(r)) * (double)(mean_len - 5));
        if (len > ni / 2)
            len = ni / 2;
        double popsum = 0;
        for (size_t i = 0; i < ni; i++)
            popsum += items[i].pop;
        for (size_t n = 0; n < len && sum > 0; n++) {
            int explore = uniform(r) < 0.3; /* a try, by popularity alone */
            double x = uniform(r) * (explore ? popsum : sum), acc = 0;
            size_t pick = ni - 1;
            for (size_t i = 0; i < ni; i++) {
                acc += explore ? items[i].pop : w[i];
                if (x < acc) {
                    pick = i;
                    break;
                }
            }
            while (taken[pick])
                pick = (pick + 1) % ni;
            taken[pick] = 1;
            sum -= w[pick];
            w[pick] = 0;
            double m = genre_taste(taste, items[pick].genre_mask) / tmax;
            double noise = exp(normal(r));
            double plays = ceil(activity * (explore ? 0.05 : m * m) * replay[pick] * noise);
            if (plays > 1e7)
                plays = 1e7;
            maxp = plays > maxp ? plays : maxp;
            fprintf(fp, "%zu\t%zu\t%.0f\n", u + 1, pick + 1, plays);
            total++;
        }
    }
    free(replay);
    int bad = fclose(fa) != 0;
    bad |= fclose(fp) != 0;
    if (bad) {
        fprintf(stderr, "encore-train demo-data: %s: write error\n", dir);
        return 1;
    }
    fprintf(stderr,
            "demo-data: %zu artists, %zu users, %zu (user, artist) play counts up to "
            "%.0f\n",
            ni, nu, total, maxp);
    printf("%s/artists.tsv\n%s/plays.tsv\n", dir, dir);
    return 0;
}

int cmd_demo(int argc, char **argv)
{
    const char *dir = NULL;
    int64_t n_items = 0, n_users = 0, seed = 2024, mean_len = 0;
    int counts = 0;
    const struct opt opts[] = {
        {"dir", OPT_STR, &dir, "output directory (created if missing)", 0, -1, 1},
        {"counts", OPT_FLAG, &counts,
         "play-count data instead (plays.tsv, artists.tsv): heavy-tailed counts over a hidden "
         "taste structure",
         0, -1, 0},
        {"items", OPT_INT, &n_items, "catalog size (0: 400, with --counts 3000)", 0, 20000, 0},
        {"users", OPT_INT, &n_users, "synthetic users (0: 1000, with --counts 2000)", 0, 1000000,
         0},
        {"mean-interactions", OPT_INT, &mean_len,
         "mean interactions per user (0: 40, with --counts 50)", 0, 1000, 0},
        {"seed", OPT_INT, &seed, "generator seed (same seed, same files)", 0, 9.2e18, 0},
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    int rc = opts_parse("demo-data", "--dir DIR [--counts] [options]", opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!n_items)
        n_items = counts ? 3000 : 400;
    if (!n_users)
        n_users = counts ? 2000 : 1000;
    if (!mean_len)
        mean_len = counts ? 50 : 40;
    if (n_items < 50 || n_users < 10 || mean_len < 6) {
        fprintf(stderr, "encore-train demo-data: need at least 50 items, 10 users and 6 mean "
                        "interactions\n");
        return 2;
    }
    if (make_dirs(dir) != 0) {
        fprintf(stderr, "encore-train demo-data: %s: cannot create: %s\n", dir, strerror(errno));
        return 1;
    }
    struct rng r = {(uint64_t)seed};
    size_t ni = (size_t)n_items, nu = (size_t)n_users, total = 0;
    struct item *items = calloc(ni, sizeof *items);
    double *w = malloc(ni * sizeof *w);
    unsigned char *taken = malloc(ni);
    char path[4096];
    FILE *fi = NULL, *fu = NULL;
    rc = 1;
    if (!items || !w || !taken) {
        fprintf(stderr, "encore-train demo-data: out of memory\n");
        goto out;
    }
    make_catalog(&r, items, w, ni);
    if (counts) {
        rc = write_counts(dir, &r, items, ni, nu, mean_len, w, taken);
        goto out;
    }
    snprintf(path, sizeof path, "%s/items.csv", dir);
    fi = fopen(path, "w");
    if (fi) {
        snprintf(path, sizeof path, "%s/interactions.tsv", dir);
        fu = fopen(path, "w");
    }
    if (!fi || !fu) {
        fprintf(stderr, "encore-train demo-data: %s: cannot write: %s\n", path, strerror(errno));
        goto out;
    }
    write_items(fi, items, ni);
    for (size_t u = 0; u < nu; u++)
        total += write_user(fu, &r, items, w, taken, ni, u, mean_len);
    int bad = fclose(fi) != 0;
    bad |= fclose(fu) != 0;
    fi = fu = NULL;
    if (bad) {
        fprintf(stderr, "encore-train demo-data: %s: write error\n", dir);
        goto out;
    }
    fprintf(stderr, "demo-data: %zu items, %zu users, %zu interactions\n", ni, nu, total);
    printf("%s/items.csv\n%s/interactions.tsv\n", dir, dir);
    rc = 0;
out:
    if (fi)
        fclose(fi);
    if (fu)
        fclose(fu);
    free(items);
    free(w);
    free(taken);
    return rc;
}
