"""seqalpha.risk"""
