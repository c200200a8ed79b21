"""seqalpha.labels"""
