"""seqalpha.dataset"""
