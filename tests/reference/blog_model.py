"""The model of the blog series "From Basics to Bots" (parseltongue.co.in, posts 37-42), in PyTorch.

The classes and attribute names are the blog's (GPT, token_embedding,
position_embedding, blocks, ln_f, head), so the state_dict keys are the
blog's (token_embedding.weight, blocks.0.sa.heads.0.key.weight,
blocks.0.sa.heads.0.tril, head.weight, ...). The one change: the blog's
constructors read module-level settings (n_embd, block_size, dropout,
vocab_size, n_head, n_layer, device); here they come from a BlogConfig passed
as the last constructor argument.

Where the blog differs from the lecture's gpt.py (lecture_model.py), all on
purpose, as the posts have it:
  - Head scales the scores by C ** -0.5 with C = x.shape[-1] = n_embd (post 38),
    not by head_size ** -0.5: 16 ** -0.5 = 0.25 at n_embd 16, where the
    lecture's 4 ** -0.5 = 0.5 with head_size 4.
  - Head has no dropout on the attention weights; dropout is applied only
    after the projection and at the end of FeedForward (posts 39, 40).
  - MultiHeadAttention.proj is Linear(n_embd, n_embd) (post 39), not
    Linear(head_size * num_heads, n_embd): the same shape whenever
    n_embd == num_heads * head_size, which Block guarantees.
  - No custom initialisation (post 42 has no _init_weights): PyTorch's
    defaults. nn.Linear weight and bias uniform(-1/sqrt(in_features),
    +1/sqrt(in_features)), nn.Embedding normal(0, 1), nn.LayerNorm ones and
    zeros.
  - Names: GPT (not GPTLanguageModel), token_embedding / position_embedding
    (not *_table), head (not lm_head); FeedForward() and Block() take no
    sizes, only the config.

Used by make_blog_fixtures.py (reference values for the C++ tests), and
quoted by the docs beside the C++.
"""

import json
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class BlogConfig:
    vocab_size: int = 65   # len(chars) of the corpus (post 36); 65 for tiny Shakespeare
    block_size: int = 64   # post 37
    n_embd: int = 64       # post 37
    n_head: int = 4        # not stated; post 39's worked example has 4 heads (head_size 16)
    n_layer: int = 2       # post 42
    dropout: float = 0.1   # used in posts 39 and 40, value not stated

    def to_json(self):
        """The config string stored in safetensors metadata, keys in this order (as xgrad's GPTConfig):
        {"vocab_size":..,"block_size":..,"n_embd":..,"n_head":..,"n_layer":..,"dropout":..}"""
        d = asdict(self)
        d["dropout"] = float(d["dropout"])
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))


# The blog's sizes (posts 37-42), with the two values the posts do not state
# (n_head 4, dropout 0.1) chosen as above, and tiny Shakespeare's 65 characters.
BLOG_CONFIG = BlogConfig(vocab_size=65, block_size=64, n_embd=64, n_head=4, n_layer=2, dropout=0.1)


# Post 36's tokenizer: the vocabulary is the sorted set of the text's
# characters; itos inverts stoi; encode and decode map through them.
def make_tokenizer(text):
    chars = sorted(list(set(text)))
    stoi = {ch: i for i, ch in enumerate(chars)}  # text -> integers
    itos = {i: ch for ch, i in stoi.items()}      # integers -> text

    def encode(s):
        return [stoi[c] for c in s]

    def decode(l):
        return ''.join([itos[i] for i in l])

    return chars, encode, decode


class Head(nn.Module):
    """ one head of self-attention, scaled by the input width C (post 38) """

    def __init__(self, head_size, config):
        super().__init__()
        self.key = nn.Linear(config.n_embd, head_size, bias=False)
        self.query = nn.Linear(config.n_embd, head_size, bias=False)
        self.value = nn.Linear(config.n_embd, head_size, bias=False)

        self.register_buffer("tril", torch.tril(torch.ones(config.block_size, config.block_size)))

    def forward(self, x):
        B, T, C = x.shape  # (B,T,C), C = n_embd

        k = self.key(x)    # (B,T,hs)
        q = self.query(x)  # (B,T,hs)

        wei = q @ k.transpose(-2, -1) * (C ** -0.5)  # (B,T,hs) @ (B,hs,T) -> (B,T,T); C, not hs
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float('-inf'))  # (B,T,T)
        wei = torch.softmax(wei, dim=-1)  # (B,T,T); no dropout here, unlike the lecture

        v = self.value(x)  # (B,T,hs)
        out = wei @ v      # (B,T,T) @ (B,T,hs) -> (B,T,hs)

        return out


class MultiHeadAttention(nn.Module):
    """ num_heads heads side by side, concatenated, then a projection (post 39) """

    def __init__(self, num_heads, head_size, config):
        super().__init__()
        self.heads = nn.ModuleList([Head(head_size, config) for _ in range(num_heads)])
        self.proj = nn.Linear(config.n_embd, config.n_embd)  # in-size n_embd, as in the blog
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        out = torch.cat([h(x) for h in self.heads], dim=-1)  # num_heads x (B,T,hs) -> (B,T,n_embd)
        out = self.proj(out)     # (B,T,n_embd)
        out = self.dropout(out)  # (B,T,n_embd)
        return out


class FeedForward(nn.Module):
    """ per-token MLP: expand to 4 * n_embd, ReLU, project back (post 40) """

    def __init__(self, config):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.ReLU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
            nn.Dropout(config.dropout),
        )

    def forward(self, x):
        return self.net(x)  # (B,T,n_embd) -> (B,T,4*n_embd) -> (B,T,n_embd)


class Block(nn.Module):
    """ pre-LN transformer block: attention, then feed-forward, each with a residual (post 41) """

    def __init__(self, config):
        super().__init__()
        head_size = config.n_embd // config.n_head
        self.sa = MultiHeadAttention(config.n_head, head_size, config)
        self.ffwd = FeedForward(config)
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.ln2 = nn.LayerNorm(config.n_embd)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))    # (B,T,n_embd)
        x = x + self.ffwd(self.ln2(x))  # (B,T,n_embd)
        return x


class GPT(nn.Module):
    """ embeddings, n_layer blocks, a final LayerNorm and a Linear head to the vocabulary (post 42) """

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding = nn.Embedding(config.block_size, config.n_embd)

        self.blocks = nn.Sequential(*[Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size)
        # no _init_weights: PyTorch's default initialisation, as in the blog

    def forward(self, idx, targets=None):
        B, T = idx.shape  # idx, targets: (B,T) token indices

        tok_emb = self.token_embedding(idx)  # (B,T,n_embd)
        pos_emb = self.position_embedding(torch.arange(T, device=idx.device))  # (T,n_embd); the blog: device=device
        x = tok_emb + pos_emb  # (B,T,n_embd)

        x = self.blocks(x)      # (B,T,n_embd)
        x = self.ln_f(x)        # (B,T,n_embd)
        logits = self.head(x)   # (B,T,vocab_size)

        if targets is None:
            return logits, None

        B, T, C = logits.shape
        logits = logits.view(B*T, C)  # (B*T,vocab_size): returned in this shape when targets are given
        targets = targets.view(B*T)   # (B*T,)

        loss = F.cross_entropy(logits, targets)  # () mean over the B*T positions
        return logits, loss

    def generate(self, idx, max_new_tokens):
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -self.config.block_size:]  # (B,<=block_size)
            logits, _ = self(idx_cond)  # (B,T,vocab_size)

            logits = logits[:, -1, :]   # (B,vocab_size): the last position
            probs = F.softmax(logits, dim=-1)  # (B,vocab_size)

            next_token = torch.multinomial(probs, num_samples=1)  # (B,1)
            idx = torch.cat((idx, next_token), dim=1)  # (B,T+1)

        return idx
