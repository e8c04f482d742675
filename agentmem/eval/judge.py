"""LLM-as-judge: LongMemEval's type-specific prompts and a strict verdict parser.

Each prompt ends "Answer yes or no only."; :func:`parse_verdict` accepts only a reply
whose first word is yes or no. (A substring test such as ``'yes' in text`` or
``'CORRECT' in text`` is a known bug in the field: "INCORRECT" contains "CORRECT".)
Only a GPT-4o judge makes accuracies comparable to published numbers; any other judge
is recorded and labelled as such in the manifest.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["is_comparable_judge", "judge_prompt", "judge_style", "parse_verdict"]

Verdict = Literal["yes", "no"]

_DEFAULT = (
    "I will give you a question, a correct answer, and a response from a model. Please "
    "answer yes if the response contains the correct answer. Otherwise, answer no. If the "
    "response is equivalent to the correct answer or contains all the intermediate steps "
    "to get the correct answer, you should also answer yes. If the response only contains "
    "a subset of the information required by the answer, answer no.{extra}\n\n"
    "Question: {question}\n\nCorrect Answer: {answer}\n\nModel Response: {response}\n\n"
    "Is the model response correct? Answer yes or no only."
)
_TEMPORAL_EXTRA = (
    " In addition, do not penalize off-by-one errors for the number of days. If the "
    "question asks for the number of days/weeks/months, etc., and the model makes "
    "off-by-one errors (e.g., predicting 19 days when the answer is 18), the model's "
    "response is still correct."
)
_KNOWLEDGE_UPDATE = (
    "I will give you a question, a correct answer, and a response from a model. Please "
    "answer yes if the response contains the correct answer. Otherwise, answer no. If the "
    "response contains some previous information along with an updated answer, the "
    "response should be considered as correct as long as the updated answer is the "
    "required answer.\n\nQuestion: {question}\n\nCorrect Answer: {answer}\n\n"
    "Model Response: {response}\n\nIs the model response correct? Answer yes or no only."
)
_PREFERENCE = (
    "I will give you a question, a rubric for desired personalized response, and a "
    "response from a model. Please answer yes if the response satisfies the desired "
    "response. Otherwise, answer no. The model does not need to reflect all the points in "
    "the rubric. The response is correct as long as it recalls and utilizes the user's "
    "personal information correctly.\n\nQuestion: {question}\n\nRubric: {answer}\n\n"
    "Model Response: {response}\n\nIs the model response correct? Answer yes or no only."
)
_ABSTENTION = (
    "I will give you an unanswerable question, an explanation, and a response from a "
    "model. Please answer yes if the model correctly identifies the question as "
    "unanswerable. The model could say that the information is incomplete, or some other "
    "information is given but the asked information is not.\n\nQuestion: {question}\n\n"
    "Explanation: {answer}\n\nModel Response: {response}\n\nDoes the model correctly "
    "identify the question as unanswerable? Answer yes or no only."
)

# LoCoMo's categories map onto LongMemEval's judge styles.
_STYLE_OF_TYPE = {
    "temporal-reasoning": "temporal",
    "temporal": "temporal",
    "knowledge-update": "knowledge-update",
    "single-session-preference": "preference",
}


def judge_style(question_type: str, *, abstention: bool) -> str:
    """Which prompt judges this question: ``abstention``, ``temporal``,
    ``knowledge-update``, ``preference`` or ``default``."""
    if abstention:
        return "abstention"
    return _STYLE_OF_TYPE.get(question_type, "default")


def judge_prompt(question_type: str, question: str, answer: str, response: str, *,
                 abstention: bool = False) -> str:
    """The judge prompt for one answer."""
    style = judge_style(question_type, abstention=abstention)
    template = {
        "abstention": _ABSTENTION,
        "knowledge-update": _KNOWLEDGE_UPDATE,
        "preference": _PREFERENCE,
    }.get(style)
    if template is None:
        extra = _TEMPORAL_EXTRA if style == "temporal" else ""
        return _DEFAULT.format(extra=extra, question=question, answer=answer,
                               response=response)
    return template.format(question=question, answer=answer, response=response)


_FIRST_WORD = re.compile(r"[A-Za-z]+")
# What may follow the verdict word: the end, a space, or closing punctuation/markdown.
# "Yes/No", "yes-no" or "no-brainer" are not a verdict.
_AFTER_WORD = re.compile(r"(?:$|[\s.,!;:)\]}*_`\"'])")


def parse_verdict(text: str) -> Verdict | None:
    """``"yes"`` or ``"no"`` when the reply's first word is yes or no (any case,
    surrounding punctuation and markdown ignored); otherwise None."""
    m = _FIRST_WORD.search(text)
    if m is None or text[: m.start()].strip(" \t\r\n*_`\"'([{>#-:.") != "":
        return None
    if not _AFTER_WORD.match(text, m.end()):
        return None
    word = m.group(0).lower()
    return word if word in ("yes", "no") else None  # type: ignore[return-value]


_OPENAI_HOSTS = re.compile(r"^openai:https://(api\.openai\.com|[\w-]+\.openai\.azure\.com)/")


def is_comparable_judge(name: str) -> bool:
    """Whether published LongMemEval numbers (GPT-4o judged) are comparable: a GPT-4o
    (not mini) model served by OpenAI or Azure OpenAI, not a local model that happens to
    carry the name."""
    lowered = name.lower()
    return bool(_OPENAI_HOSTS.match(lowered)) and bool(
        re.search(r"@gpt-4o(?![-\w]*mini)", lowered))
