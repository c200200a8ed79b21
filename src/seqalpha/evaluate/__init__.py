"""seqalpha.evaluate"""
