"""seqalpha.report"""
