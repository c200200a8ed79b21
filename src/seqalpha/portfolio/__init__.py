"""seqalpha.portfolio"""
