// A small problem set of our own, in the hub tables' layout, so the embedded local network can mine
// and validate without the real datasets. These problems are written for this project; they are
// NOT rows of GSM8K, MATH, MBPP or HumanEval, and a real validator would never derive them.

import { InMemorySource } from "./cache.js";
import type { Gsm8kRow, HumanEvalRow, MathRow, MathSubject, MbppRow, RowTypes } from "./catalog.js";
import type { SplitParams } from "./splits.js";
import { DatasetStore } from "./store.js";

const gsm = (question: string, steps: string, final: string): Gsm8kRow => ({
  question,
  answer: `${steps}\n#### ${final}`,
});

const GSM8K_TRAIN: Gsm8kRow[] = [
  gsm(
    "A library has 5 shelves with 32 books each. It lends out 47 books. How many books are still on the shelves?",
    "The shelves hold 5 * 32 = <<5*32=160>>160 books.\nAfter lending, 160 - 47 = <<160-47=113>>113 remain.",
    "113",
  ),
  gsm(
    "Tom saves $15 every week. How many weeks does he need to save $180?",
    "He needs 180 / 15 = <<180/15=12>>12 weeks.",
    "12",
  ),
  gsm(
    "A train travels 84 km in 2 hours. At the same speed, how far does it travel in 5 hours?",
    "Its speed is 84 / 2 = <<84/2=42>>42 km per hour.\nIn 5 hours it travels 42 * 5 = <<42*5=210>>210 km.",
    "210",
  ),
  gsm(
    "Nina buys 3 packs of 8 pencils and gives 5 pencils to her brother. How many pencils does she keep?",
    "She buys 3 * 8 = <<3*8=24>>24 pencils.\nShe keeps 24 - 5 = <<24-5=19>>19.",
    "19",
  ),
  gsm(
    "A rectangle is 9 cm long and 4 cm wide. What is its perimeter in cm?",
    "The perimeter is 2 * (9 + 4) = <<2*(9+4)=26>>26 cm.",
    "26",
  ),
  gsm(
    "A class of 28 students splits into teams of 4. How many teams are there?",
    "There are 28 / 4 = <<28/4=7>>7 teams.",
    "7",
  ),
  gsm(
    "Eggs cost $0.25 each. How much do 18 eggs cost in dollars?",
    "They cost 18 * 0.25 = <<18*0.25=4.5>>4.5 dollars.",
    "4.5",
  ),
  gsm(
    "Sam had 120 stickers. He gave a quarter of them away and then bought 15 more. How many stickers does he have now?",
    "He gave away 120 / 4 = <<120/4=30>>30 stickers, leaving 120 - 30 = <<120-30=90>>90.\nThen he has 90 + 15 = <<90+15=105>>105.",
    "105",
  ),
  gsm(
    "A garden has 6 rows of 11 tulips. 14 tulips do not bloom. How many tulips bloom?",
    "There are 6 * 11 = <<6*11=66>>66 tulips.\n66 - 14 = <<66-14=52>>52 bloom.",
    "52",
  ),
  gsm(
    "A water tank holds 350 liters. It loses 25 liters a day. How many liters are left after 8 days?",
    "It loses 25 * 8 = <<25*8=200>>200 liters.\n350 - 200 = <<350-200=150>>150 liters are left.",
    "150",
  ),
];

const GSM8K_TEST: Gsm8kRow[] = [
  gsm(
    "Ana runs 3 km on weekdays and 5 km on each weekend day. How many km does she run in a week?",
    "Weekdays: 5 * 3 = <<5*3=15>>15 km. Weekend: 2 * 5 = <<2*5=10>>10 km.\nTotal 15 + 10 = <<15+10=25>>25 km.",
    "25",
  ),
  gsm(
    "A box holds 12 cups. How many boxes are needed for 100 cups?",
    "100 / 12 is 8 with remainder 4, so 8 + 1 = <<8+1=9>>9 boxes are needed.",
    "9",
  ),
  gsm(
    "A shirt costs $40 and is on sale for 15% off. What is the sale price in dollars?",
    "The discount is 40 * 0.15 = <<40*0.15=6>>6 dollars.\nThe price is 40 - 6 = <<40-6=34>>34 dollars.",
    "34",
  ),
];

const math = (type: string, level: number, problem: string, solution: string): MathRow => ({
  problem,
  level: `Level ${level}`,
  type,
  solution,
});

const MATH_TABLES: Record<MathSubject, { train: MathRow[]; test: MathRow[] }> = {
  algebra: {
    train: [
      math("Algebra", 1, "Solve for $y$: $5y - 3 = 17$.", "Adding 3 gives $5y = 20$, so $y = \\boxed{4}$."),
      math(
        "Algebra",
        2,
        "What is the sum of the roots of $x^2 - 9x + 14 = 0$?",
        "By Vieta's formulas the roots sum to $\\boxed{9}$.",
      ),
    ],
    test: [math("Algebra", 1, "Evaluate $2a + b$ when $a = 3$ and $b = -4$.", "$2(3) + (-4) = \\boxed{2}$.")],
  },
  counting_and_probability: {
    train: [
      math(
        "Counting & Probability",
        2,
        "In how many ways can a president and a secretary be chosen from 6 people?",
        "There are $6 \\cdot 5 = \\boxed{30}$ ways.",
      ),
      math(
        "Counting & Probability",
        2,
        "A fair die is rolled once. What is the probability of rolling a prime number?",
        "The primes 2, 3 and 5 give $\\frac{3}{6} = \\boxed{\\frac{1}{2}}$.",
      ),
    ],
    test: [
      math(
        "Counting & Probability",
        1,
        "Compute $\\binom{5}{2}$.",
        "$\\binom{5}{2} = \\frac{5 \\cdot 4}{2} = \\boxed{10}$.",
      ),
    ],
  },
  geometry: {
    train: [
      math(
        "Geometry",
        1,
        "What is the area of a triangle with base 10 and height 7?",
        "The area is $\\frac{1}{2} \\cdot 10 \\cdot 7 = \\boxed{35}$.",
      ),
      math(
        "Geometry",
        2,
        "Two angles of a triangle measure $50^\\circ$ and $60^\\circ$. How many degrees is the third angle?",
        "It is $180 - 50 - 60 = \\boxed{70}$ degrees.",
      ),
    ],
    test: [
      math(
        "Geometry",
        2,
        "A square has diagonal $6\\sqrt{2}$. What is its area?",
        "Its side is 6, so the area is $\\boxed{36}$.",
      ),
    ],
  },
  intermediate_algebra: {
    train: [
      math(
        "Intermediate Algebra",
        3,
        "Find the remainder when $x^3 - 2x + 5$ is divided by $x - 2$.",
        "By the remainder theorem it is $8 - 4 + 5 = \\boxed{9}$.",
      ),
      math("Intermediate Algebra", 3, "If $\\log_2 x = 5$, what is $x$?", "We have $x = 2^5 = \\boxed{32}$."),
    ],
    test: [
      math(
        "Intermediate Algebra",
        3,
        "What is the product of the roots of $2x^2 + 3x - 8 = 0$?",
        "By Vieta's formulas it is $\\frac{-8}{2} = \\boxed{-4}$.",
      ),
    ],
  },
  number_theory: {
    train: [
      math(
        "Number Theory",
        1,
        "What is the greatest common divisor of 84 and 36?",
        "$84 = 2^2 \\cdot 3 \\cdot 7$ and $36 = 2^2 \\cdot 3^2$, so the gcd is $\\boxed{12}$.",
      ),
      math(
        "Number Theory",
        2,
        "What is the units digit of $7^4$?",
        "$7^4 = 2401$, whose units digit is $\\boxed{1}$.",
      ),
    ],
    test: [
      math(
        "Number Theory",
        1,
        "How many positive divisors does 18 have?",
        "They are 1, 2, 3, 6, 9, 18: $\\boxed{6}$.",
      ),
    ],
  },
  prealgebra: {
    train: [
      math("Prealgebra", 1, "What is $15\\%$ of 80?", "$0.15 \\cdot 80 = \\boxed{12}$."),
      math("Prealgebra", 1, "Simplify $\\frac{18}{24}$.", "Dividing by 6 gives $\\boxed{\\frac{3}{4}}$."),
    ],
    test: [math("Prealgebra", 1, "What is $3.5 + 2.25$?", "The sum is $\\boxed{5.75}$.")],
  },
  precalculus: {
    train: [
      math("Precalculus", 1, "Compute $\\cos 0$.", "$\\cos 0 = \\boxed{1}$."),
      math(
        "Precalculus",
        2,
        "Compute the dot product of $\\begin{pmatrix} 2 \\\\ 3 \\end{pmatrix}$ and $\\begin{pmatrix} 4 \\\\ -1 \\end{pmatrix}$.",
        "It is $2 \\cdot 4 + 3 \\cdot (-1) = \\boxed{5}$.",
      ),
    ],
    test: [
      math(
        "Precalculus",
        2,
        "Compute $\\sin^2 x + \\cos^2 x$ for $x = 1$.",
        "The identity gives $\\boxed{1}$.",
      ),
    ],
  },
};

const mbpp = (
  task_id: number,
  text: string,
  code: string,
  test_list: string[],
  test_setup_code = "",
): MbppRow => ({
  task_id,
  text,
  code,
  test_list,
  test_setup_code,
  test_imports: [],
});

const MBPP_TRAIN: MbppRow[] = [
  mbpp(
    9101,
    "Write a function to return the largest of three numbers.",
    "def max_of_three(a, b, c):\n    return max(a, b, c)",
    [
      "assert max_of_three(1, 5, 3) == 5",
      "assert max_of_three(-1, -5, -3) == -1",
      "assert max_of_three(7, 7, 2) == 7",
    ],
  ),
  mbpp(
    9102,
    "Write a function to reverse the words of a sentence.",
    "def reverse_words(s):\n    return ' '.join(s.split()[::-1])",
    [
      "assert reverse_words('a b c') == 'c b a'",
      "assert reverse_words('hello') == 'hello'",
      "assert reverse_words('') == ''",
    ],
  ),
  mbpp(
    9103,
    "Write a function to count how many times each character occurs in a string, as a dictionary.",
    "from collections import Counter\ndef char_counts(s):\n    return dict(Counter(s))",
    [
      "assert char_counts('aab') == {'a': 2, 'b': 1}",
      "assert char_counts('') == {}",
      "assert char_counts('xyz')['y'] == 1",
    ],
  ),
  mbpp(
    9104,
    "Write a function to check whether a number is a perfect square.",
    "import math\ndef is_perfect_square(n):\n    if n < 0:\n        return False\n    r = math.isqrt(n)\n    return r * r == n",
    [
      "assert is_perfect_square(16) == True",
      "assert is_perfect_square(15) == False",
      "assert is_perfect_square(0) == True",
    ],
  ),
];

const MBPP_VALIDATION: MbppRow[] = [
  mbpp(
    9111,
    "Write a function to flatten a list of lists into one list.",
    "def flatten(xss):\n    return [x for xs in xss for x in xs]",
    [
      "assert flatten([[1, 2], [3]]) == [1, 2, 3]",
      "assert flatten([]) == []",
      "assert flatten([[], [4]]) == [4]",
    ],
  ),
];

const MBPP_TEST: MbppRow[] = [
  mbpp(
    9121,
    "Write a function to return the n-th Fibonacci number, with fib(0) = 0 and fib(1) = 1.",
    "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
    ["assert fib(0) == 0", "assert fib(1) == 1", "assert fib(10) == 55"],
  ),
  mbpp(
    9122,
    "Write a function to remove duplicates from a list while keeping the first occurrence order.",
    "def dedupe(xs):\n    seen = set()\n    out = []\n    for x in xs:\n        if x not in seen:\n            seen.add(x)\n            out.append(x)\n    return out",
    [
      "assert dedupe([1, 2, 1, 3, 2]) == [1, 2, 3]",
      "assert dedupe([]) == []",
      "assert dedupe(['a', 'a']) == ['a']",
    ],
  ),
  mbpp(
    9123,
    "Write a function to compute the sum of the even numbers in a list.",
    "def sum_even(xs):\n    return sum(x for x in xs if x % 2 == 0)",
    ["assert sum_even([1, 2, 3, 4]) == 6", "assert sum_even([]) == 0", "assert sum_even(data) == 12"],
    "data = [2, 4, 6, 7]",
  ),
  mbpp(
    9124,
    "Write a function to return the second smallest distinct value of a list.",
    "def second_smallest(xs):\n    return sorted(set(xs))[1]",
    [
      "assert second_smallest([3, 1, 2]) == 2",
      "assert second_smallest([5, 5, 4, 9]) == 5",
      "assert second_smallest([0, -1]) == 0",
    ],
  ),
  mbpp(
    9125,
    "Write a function to convert a string to title case, capitalising every word.",
    "def title_words(s):\n    return ' '.join(w[:1].upper() + w[1:] for w in s.split(' '))",
    [
      "assert title_words('hello world') == 'Hello World'",
      "assert title_words('a') == 'A'",
      "assert title_words('') == ''",
    ],
  ),
];

const HUMANEVAL: HumanEvalRow[] = [
  {
    task_id: "LocalEval/0",
    prompt:
      'def clamp(x: int, lo: int, hi: int) -> int:\n    """ Return x limited to the closed range [lo, hi].\n    >>> clamp(5, 0, 3)\n    3\n    """\n',
    canonical_solution: "    return max(lo, min(hi, x))\n",
    test: "\n\ndef check(candidate):\n    assert candidate(5, 0, 3) == 3\n    assert candidate(-2, 0, 3) == 0\n    assert candidate(2, 0, 3) == 2\n",
    entry_point: "clamp",
  },
  {
    task_id: "LocalEval/1",
    prompt:
      'def count_upper(s: str) -> int:\n    """ Count the upper-case letters in s.\n    >>> count_upper("aBcD")\n    2\n    """\n',
    canonical_solution: "    return sum(1 for c in s if c.isupper())\n",
    test: "\n\ndef check(candidate):\n    assert candidate('aBcD') == 2\n    assert candidate('') == 0\n    assert candidate('XYZ') == 3\n",
    entry_point: "count_upper",
  },
  {
    task_id: "LocalEval/2",
    prompt:
      'def pairwise_sums(values: list) -> list:\n    """ Return the sums of neighbouring elements.\n    >>> pairwise_sums([1, 2, 4])\n    [3, 6]\n    """\n',
    canonical_solution: "    return [a + b for a, b in zip(values, values[1:])]\n",
    test: "\n\ndef check(candidate):\n    assert candidate([1, 2, 4]) == [3, 6]\n    assert candidate([]) == []\n    assert candidate([5]) == []\n",
    entry_point: "pairwise_sums",
  },
  {
    task_id: "LocalEval/3",
    prompt:
      'def digits_sum(n: int) -> int:\n    """ Return the sum of the decimal digits of abs(n).\n    >>> digits_sum(-123)\n    6\n    """\n',
    canonical_solution: "    return sum(int(d) for d in str(abs(n)))\n",
    test: "\n\ndef check(candidate):\n    assert candidate(-123) == 6\n    assert candidate(0) == 0\n    assert candidate(909) == 18\n",
    entry_point: "digits_sum",
  },
];

/** The bundled tables keyed `<config>/<split>` like the cache layout. */
export const BUNDLED_TABLES: { [K in keyof RowTypes]: Record<string, readonly RowTypes[K][]> } = {
  gsm8k: { "main/train": GSM8K_TRAIN, "main/test": GSM8K_TEST },
  math: Object.fromEntries(
    Object.entries(MATH_TABLES).flatMap(([subject, t]) => [
      [`${subject}/train`, t.train],
      [`${subject}/test`, t.test],
    ]),
  ),
  mbpp: { "full/train": MBPP_TRAIN, "full/validation": MBPP_VALIDATION, "full/test": MBPP_TEST },
  humaneval: { "openai_humaneval/test": HUMANEVAL },
};

/** Split parameters scaled to the bundled tables (the derivation code is the production code). */
export const BUNDLED_SPLIT_PARAMS: SplitParams = {
  gsm8kValSize: 2,
  mathValSize: 7,
  mbppTestToTrainFraction: 0.8,
};

/** A dataset store over the bundled problems, for the local network when no cache exists. */
export function bundledDatasetStore(): DatasetStore {
  return new DatasetStore(new InMemorySource(BUNDLED_TABLES, "bundled problem set"), BUNDLED_SPLIT_PARAMS);
}
