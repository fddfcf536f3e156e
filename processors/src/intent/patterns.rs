//! The intent patterns: (class, weight, name, regex over the folded text).
//! Written from eval/dev.tsv only; eval/holdout.tsv measures them
//! (eval/README.md). A class's score combines its matched weights as
//! independent evidence: 1 − Π(1 − w).

use super::IntentLabel::{self, *};

pub const PATTERNS: &[(IntentLabel, f64, &str, &str)] = &[
    // Purchase: wanting, about to, or having just bought.
    (
        Purchase,
        0.9,
        "where can I buy",
        r"\bwhere('s| is)? (can|do|could|should) (i |you |we )?(buy|get|find|order|purchase)\b",
    ),
    (Purchase, 0.97, "where to buy", r"\bwhere to (buy|get|order|purchase|find)\b|\bcheapest place to buy\b"),
    (Purchase, 0.9, "take my money", r"\btake my money\b"),
    (
        Purchase,
        0.9,
        "just bought",
        r"\b(just|finally) (bought|ordered|purchased|pre-?ordered|got|picked up|placed|subscribed|signed up|copped)\b",
    ),
    (Purchase, 0.85, "bought", r"\b(bought|ordered|purchased|pre-?ordered|copped|grabbed|reserved|subscribed)\b"),
    (
        Purchase,
        0.8,
        "going to buy",
        r"\b(going to|gonna|will|'ll|ready to|want to|wanna|need to|planning to|about to|time to|'d like to|would like to) (definitely |probably |def )?(buy|order|purchase|get a new|pick up|upgrade|treat myself|sign up|subscribe)\b",
    ),
    (Purchase, 0.8, "buying", r"\b(buying|ordering|purchasing|signing up|placed my order)\b"),
    (
        Purchase,
        0.8,
        "added to cart",
        r"\badd(ed|ing)? (it |this |them )?to (my )?(cart|basket|order|wishlist)\b|\bcheckout\b|\bchecked out\b",
    ),
    (
        Purchase,
        0.7,
        "must have it",
        r"\bi must have\b|\bi need (this|one|these)\b|\bi want (this|it|one)\b|\bi'll take (one|two|\d+)\b|\bin stock\b",
    ),
    (Purchase, 0.6, "a purchase", r"\b(my|first|new) (\w+ )*purchase\b|\bpaid\b|\bgot me\b"),
    // Complaint: something went wrong and the author says so.
    (Complaint, 0.9, "refund", r"\brefund\b|\bmoney back\b|\bcompensation\b"),
    (
        Complaint,
        0.9,
        "does not work",
        r"\b(doesn't|does not|don't|won't|isn't|not|stopped|never|can't|cannot) (work|working|open|load|let me|arrive|arrived|shipped|answer|respond|fix)\w*",
    ),
    (
        Complaint,
        0.85,
        "broken",
        r"\bbroken?\b|\bbroke\b|\bcrash(es|ing|ed)?\b|\bcracked\b|\bdamaged\b|\bleak(ed|ing|s)?\b|\bfell apart\b|\bbugs\b|\berror\b",
    ),
    (
        Complaint,
        0.85,
        "worst",
        r"\b(worst|terrible|horrible|awful|useless|unacceptable|ridiculous|rude|scam|junk)\b|\bwaste of money\b|\bwhat a joke\b|\bthanks for nothing\b",
    ),
    (Complaint, 0.85, "never again", r"\bnever (buying|again|ordering)\b|\bnot happy\b|\bnot as described\b"),
    (Complaint, 0.85, "charged twice", r"\bcharged (me )?twice\b|\bdouble charged\b|\bovercharged\b|\bkeep billing\b"),
    (
        Complaint,
        0.8,
        "still waiting",
        r"\bstill waiting\b|\b(a week|days|weeks|hours) late\b|\bwaited\b|\bon hold\b|\bdelayed\b|\bno (compensation|status)\b|\bnobody (answers|helps)\b|\bhung up\b",
    ),
    (Complaint, 0.8, "disappointed", r"\bdisappoint(ed|ing)\b|\bfurious\b|\bannoying\b|\bugh\b|😡|😤"),
    (
        Complaint,
        0.75,
        "keeps failing",
        r"\bkeeps? (crashing|disconnecting|sending)\b|\b(is|are|been|was) (down|broken)\b|\bmissing items\b|\blost my\b|\blocked\b",
    ),
    (
        Complaint,
        0.7,
        "returning it",
        r"\breturn(ing|ed) it\b|\bcancel+ed my\b|\btrying to cancel\b|\bdiscontinued\b|\bignored\b|\ba rash\b|\bbarely\b|\bso loud\b|\bdied\b",
    ),
    // Question / research: asking before deciding.
    (
        Question,
        0.9,
        "should I get",
        r"\bshould i (get|buy|go for|pick|wait|choose|order)\b|\bwhich (size|plan|flavou?r|lens)\b[^.!]*\?|\bwhich is (better|best)\b",
    ),
    (
        Question,
        0.9,
        "asking for a recommendation",
        r"\b(would|do|can|could) you recommend\b|\bany (thoughts|tips|reviews|opinions)\b|\bopinions on\b",
    ),
    (
        Question,
        0.85,
        "anyone tried",
        r"\b(anyone|anybody) (tried|used|know)\b|\bhas (anyone|anybody)\b|\bdoes (anyone|anybody)\b",
    ),
    (
        Question,
        0.85,
        "is it worth",
        r"\b(is|are) (it|this|they|the \w+( \w+)?) worth\b|\bworth (it|upgrading|the extra)\b[^.!]*\?",
    ),
    (
        Question,
        0.8,
        "comparison",
        r"\bvs\.?\b|\bversus\b|\bdifference between\b|\bcompare[sd]?\b|\bcompared to\b|\bpros and cons\b",
    ),
    (Question, 0.6, "thinking about", r"\bthinking (about|of) (switching|trying)\b"),
    (
        Question,
        0.6,
        "a question",
        r"(^|[.!?] )(how|what|which|is|are|does|do|can|has|have|any|will|should|could|would)\b[^.!]*\?|\?\s*$",
    ),
    // Recommendation: telling others to buy, try or go.
    (Recommendation, 0.9, "recommend", r"\brecommend(ed|s)?\b"),
    (
        Recommendation,
        0.85,
        "you have to try",
        r"\byou (have|need) to (try|get|see|watch|go)\b|\byou need (this|these|it)\b|\bmust-?have\b|\bdo yourself a favou?r\b|\beveryone should\b|\bmore people should\b|\byou should\b",
    ),
    (
        Recommendation,
        0.8,
        "trust me",
        r"\btrust me\b|\bthank me later\b|\byou'll thank me\b|\bwon't regret\b|\bzero regrets\b|\bcheck (it|them) out\b|\bdon't miss\b|\btell everyone\b",
    ),
    (
        Recommendation,
        0.75,
        "worth every penny",
        r"\bworth every penny\b|\b(totally|definitely) worth\b|\bworth it\b|\bgreat value\b|\b(10|five|5)(/10| stars)\b|\bunderrated\b|\bmy go-?to\b|\bbig fan\b|\bcan't fault\b|\bhands down\b",
    ),
    (
        Recommendation,
        0.7,
        "imperative",
        r"^(go|get|try|pick|use|skip|stop scrolling)\b|\bbook it\b|\bgo (watch|with|for|to)\b|\bget the\b|\bskip the\b",
    ),
    (
        Recommendation,
        0.6,
        "the best",
        r"\bbest (\w+ ){0,3}(in town|under|i made|this year)\b|\bif you('re| are)? (looking|in|have|only)\b|\bwhoever is looking\b|\beveryone loved\b|\bafter i showed\b",
    ),
];
