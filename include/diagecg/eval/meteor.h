// METEOR for one hypothesis against reference(s), with the semantics of NLTK 3.8
// nltk.translate.meteor_score.meteor_score (Lavie & Agarwal 2007 parameters alpha 0.9, beta 3, gamma 0.5),
// and the Porter stemmer it uses (nltk.stem.porter.PorterStemmer, mode NLTK_EXTENSIONS).
#pragma once

#include <string>
#include <vector>

#include "diagecg/eval/text-metrics.h"

namespace diagecg {

class WordNet;

// nltk PorterStemmer().stem(word): Porter (1980) with Martin Porter's and NLTK's extensions. Upper-case
// ASCII is lower-cased first. Defined for ASCII words (tokenize_report's tokens); any other byte counts as
// one consonant, where Python would count code points.
std::string porter_stem(const std::string& word);

struct MeteorParams {
    double alpha = 0.9;  // weight of precision against recall in the harmonic mean
    double beta = 3.0;   // shape of the fragmentation penalty
    double gamma = 0.5;  // weight of the fragmentation penalty
};

// NLTK single_meteor_score(ref, hyp). Tokens are lower-cased (ASCII), then aligned in three stages, each on
// the words the previous left unmatched, each scanning the hyp from its last word back and taking, for each
// hyp word, the last still-unmatched ref word that fits:
//   1. exact match;
//   2. Porter stems equal; the unmatched words stay stemmed from here on (as in NLTK);
//   3. the ref word is the hyp word itself or a lemma name without '_' of a synset of wordnet.synsets(hyp word).
// With m matches sorted by hyp position and ch chunks (runs adjacent in both hyp and ref):
//   P = m/|hyp|, R = m/|ref|, Fmean = P*R / (alpha*P + (1-alpha)*R), penalty = gamma * (ch/m)^beta,
//   score = (1 - penalty) * Fmean; 0 when m = 0 (also for an empty hyp or ref).
double single_meteor_score(const Tokens& ref, const Tokens& hyp, const WordNet& wordnet,
                           const MeteorParams& params = {});

// NLTK meteor_score(refs, hyp): the max of single_meteor_score over refs. Throws std::invalid_argument when
// refs is empty.
double meteor_score(const std::vector<Tokens>& refs, const Tokens& hyp, const WordNet& wordnet,
                    const MeteorParams& params = {});

}  // namespace diagecg
